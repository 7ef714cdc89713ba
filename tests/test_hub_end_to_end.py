"""`suite run 'hub_*.digits' --cases FILE`: local hub handles give ok rows, an unreachable one a failed row."""

from __future__ import annotations

import json

import keras
import numpy as np
import pandas as pd
import pytest

from suite import storage
from suite.cli import main
from suite.models.hub import load_module

UNREACHABLE = "https://hub.invalid/google/imagenet/inception_v3/feature_vector/5"  # .invalid never resolves (RFC 2606)


@pytest.fixture(scope="module")
def hub_run(tmp_path_factory, hub_stand_in):
    """Every built-in hub case on digits, replaced from TOML: three on the stand-in, three on an unreachable URL."""
    folder = tmp_path_factory.mktemp("hub-run")
    handles = {
        ("hub_mobilenet_v2", "frozen"): (hub_stand_in, 32),
        ("hub_inception_v3", "finetune"): (hub_stand_in, 75),  # small sides keep the stand-in fast
        ("hub_mobilenet_v2", "finetune"): (UNREACHABLE, 0),
        ("hub_inception_v3", "frozen"): (UNREACHABLE, 0),
        ("hub_mobilenet_v2", "tuned"): (hub_stand_in, 32),  # its search decides frozen or fine-tuned
        ("hub_inception_v3", "tuned"): (UNREACHABLE, 0),  # fails at once, not after three failed trials
    }
    tables = [
        f'[[case]]\narch = "{arch}"\nregime = "{regime}"\ndataset = "digits"\nhandle = "{handle}"\n'
        + (f"image_size = {side}\n" if side else "")
        for (arch, regime), (handle, side) in handles.items()
    ]
    cases = folder / "cases.toml"
    cases.write_text("\n".join(tables))
    results = folder / "results"
    args = [
        "run",
        "hub_*.digits",
        "simple_cnn.scratch.digits",
        "--cases",
        str(cases),
        "--profile",
        "smoke",
        "--formats",
        "none",
    ]
    code = main([*args, "--results", str(results), "--device", "cpu"])
    return results, code


def test_local_handles_run_frozen_and_fine_tuned_into_ok_rows(hub_run, hub_stand_in):
    results, code = hub_run
    frame = storage.read_results(results).set_index("case_id")
    assert len(frame) == 7 and code == 1  # three cases failed, so the run says so
    ok = frame.loc[["hub_mobilenet_v2.frozen.digits", "hub_inception_v3.finetune.digits", "simple_cnn.scratch.digits"]]
    tuned = frame.loc["hub_mobilenet_v2.tuned.digits"]
    assert tuned["status"] == "ok" and json.loads(tuned["tuner_best_json"])["freeze_fraction"] in (0.0, 1.0)
    assert (ok["status"] == "ok").all(), ok["error"]
    hub_rows = ok.loc[["hub_mobilenet_v2.frozen.digits", "hub_inception_v3.finetune.digits"]]
    assert (hub_rows["weights"] == f"hub:{hub_stand_in}").all()
    assert hub_rows["image_size"].tolist() == [32, 75]
    assert (hub_rows["gflops_per_image"] > 0).all() and (hub_rows["latency_p50_ms"] > 0).all()
    frozen, finetuned = hub_rows["trainable_params"]
    assert frozen == 16 * 10 + 10  # the head alone
    assert finetuned == hub_rows["params"].iloc[1] - 2 * 16  # all but the moving mean and variance
    assert json.loads(hub_rows["case_json"].iloc[0])["handle"] == hub_stand_in
    history = pd.read_csv(results / "history" / "hub_inception_v3.finetune.digits-s0.csv")
    assert history["phase"].tolist() == ["head", "finetune"]


def test_saved_hub_models_reload_with_the_weights_they_trained_to(hub_run, hub_stand_in):
    results, _ = hub_run
    published = {v.name.split(":")[0].replace("/", "_"): v.numpy() for v in load_module(hub_stand_in).variables}

    def module_weights(case_id: str, arch: str) -> dict[str, np.ndarray]:
        model = keras.models.load_model(results / "models" / f"{case_id}-s0.keras")
        assert model.output_shape == (None, 10)
        return {w.name: w.numpy() for w in model.get_layer(arch).get_layer(f"{arch}_module").weights}

    frozen = module_weights("hub_mobilenet_v2.frozen.digits", "hub_mobilenet_v2")
    finetuned = module_weights("hub_inception_v3.finetune.digits", "hub_inception_v3")
    assert frozen.keys() == finetuned.keys() == published.keys()
    assert all(np.array_equal(frozen[name], published[name]) for name in published)
    assert not np.allclose(finetuned["conv_kernel"], published["conv_kernel"])


def test_an_unreachable_handle_is_a_failed_row_with_one_line_and_the_others_still_run(hub_run):
    results, _ = hub_run
    frame = storage.read_results(results).set_index("case_id")
    failed = frame.loc[
        ["hub_mobilenet_v2.finetune.digits", "hub_inception_v3.frozen.digits", "hub_inception_v3.tuned.digits"]
    ]
    assert (failed["status"] == "failed").all()
    for case_id, error in failed["error"].items():
        assert error.startswith(f"HubUnavailable: hub handle {UNREACHABLE} can't be loaded") and "\n" not in error
        assert "set `handle` to a local SavedModel directory" in error
        assert "HubUnavailable" in (results / "errors" / f"{case_id}-s0.txt").read_text()
    assert frame.loc["simple_cnn.scratch.digits", "status"] == "ok"
