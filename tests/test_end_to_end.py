"""A real `suite run`: the table, the models, the histories, the chart, the rerun."""

from __future__ import annotations

import keras
import pandas as pd
import pytest

from suite import storage
from suite.cli import main

SMOKE_CASES = ["simple_cnn.*.digits", "resnet_scratch.frozen.digits", "mobilenet_v2.finetune.digits"]


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    results = tmp_path_factory.mktemp("smoke")
    code = main(["run", *SMOKE_CASES, "--profile", "smoke", "--results", str(results), "--device", "cpu"])
    return results, code


def test_smoke_run_writes_one_ok_row_per_case(smoke_run):
    results, code = smoke_run
    assert code == 0
    frame = storage.read_results(results)
    expected = {
        "simple_cnn.scratch.digits",
        "simple_cnn.frozen.digits",
        "simple_cnn.finetune.digits",
        "simple_cnn.freeze25.digits",
        "simple_cnn.freeze50.digits",
        "simple_cnn.freeze75.digits",
        "resnet_scratch.frozen.digits",
        "mobilenet_v2.finetune.digits",
    }
    assert set(frame["case_id"]) == expected and len(frame) == len(expected)
    assert (frame["status"] == "ok").all(), frame[["case_id", "error"]]
    assert frame["test_accuracy"].between(0, 1).all() and frame["val_accuracy"].between(0, 1).all()
    assert (frame["latency_p50_ms"] > 0).all() and (frame["throughput_ips"] > 0).all()
    assert (frame["trainable_params"] <= frame["params"]).all()
    by_id = frame.set_index("case_id")
    assert by_id.loc["simple_cnn.scratch.digits", "weights"] == "none"
    assert by_id.loc["simple_cnn.frozen.digits", "weights"] == "source:glyphs"
    assert (
        by_id.loc["simple_cnn.frozen.digits", "trainable_params"]
        < by_id.loc["simple_cnn.scratch.digits", "trainable_params"]
    )
    assert by_id.loc["mobilenet_v2.finetune.digits", "epochs"] == 2  # head phase + fine-tune phase
    assert set(frame["device"]) == {"cpu"} and frame["tf_version"].notna().all()


def test_each_case_leaves_a_model_a_history_and_latency_samples(smoke_run):
    results, _ = smoke_run
    model = keras.models.load_model(results / "models" / "simple_cnn.scratch.digits-s0.keras")
    assert model.output_shape == (None, 10)
    history = pd.read_csv(results / "history" / "mobilenet_v2.finetune.digits-s0.csv")
    assert history["phase"].tolist() == ["head", "finetune"]
    assert {"loss", "accuracy", "val_accuracy", "lr", "epoch_seconds", "images_per_s"} <= set(history.columns)
    assert (results / "latency" / "simple_cnn.scratch.digits-s0.npy").is_file()
    chart = results / "charts" / "accuracy_vs_latency.png"
    assert chart.read_bytes()[:4] == b"\x89PNG"
    assert (results / "summary.csv").is_file()


def test_a_rerun_skips_cases_already_done(smoke_run, capsys):
    results, _ = smoke_run
    before = storage.read_results(results)
    assert main(["run", "simple_cnn.scratch.digits", "--profile", "smoke", "--results", str(results)]) == 0
    assert "already done" in capsys.readouterr().out
    assert len(storage.read_results(results)) == len(before)


def test_report_rebuilds_from_stored_rows(smoke_run):
    results, _ = smoke_run
    chart = results / "charts" / "accuracy_vs_latency.png"
    chart.unlink()
    assert main(["report", str(results)]) == 0
    assert chart.is_file()


def test_a_failing_case_is_a_row_not_a_crash(tmp_path, capsys):
    bad = tmp_path / "wrong.weights.h5"
    keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)]).save_weights(bad)
    cases = tmp_path / "cases.toml"
    cases.write_text(
        f'[[case]]\narch = "simple_cnn"\nregime = "frozen"\ndataset = "digits"\nid = "simple_cnn.frozen.digits.bad"\n'
        f'weights = "{bad}"\n'
        '[[case]]\narch = "simple_cnn"\nregime = "scratch"\ndataset = "digits"\nid = "simple_cnn.scratch.digits.ok"\n'
    )
    code = main(["run", "--cases", str(cases), "--profile", "smoke", "--results", str(tmp_path / "r")])
    assert code == 1
    frame = storage.read_results(tmp_path / "r").set_index("case_id")
    assert frame.loc["simple_cnn.frozen.digits.bad", "status"] == "failed"
    assert "\n" not in frame.loc["simple_cnn.frozen.digits.bad", "error"]
    assert frame.loc["simple_cnn.scratch.digits.ok", "status"] == "ok"
    assert (tmp_path / "r" / "errors" / "simple_cnn.frozen.digits.bad-s0.txt").read_text().startswith("Traceback")


@pytest.mark.slow
def test_resnet_scratch_reaches_97_percent_on_digits_in_the_quick_profile(tmp_path):
    assert main(["run", "resnet_scratch.scratch.digits", "--profile", "quick", "--results", str(tmp_path)]) == 0
    accuracy = storage.read_results(tmp_path)["test_accuracy"].iloc[0]
    assert accuracy >= 0.97


def test_cases_whose_source_pretraining_failed_are_skipped_not_retried(tmp_path, monkeypatch):
    from suite import transfer

    attempts = []

    def broken(*args, **kwargs):
        attempts.append(args)
        raise OSError("disk full")

    monkeypatch.setattr(transfer, "pretrain_on_source", broken)
    code = main(
        [
            "run",
            "simple_cnn.frozen.digits",
            "simple_cnn.finetune.digits",
            "--profile",
            "smoke",
            "--results",
            str(tmp_path),
        ]
    )
    assert code == 1 and len(attempts) == 1
    frame = storage.read_results(tmp_path).set_index("case_id")
    assert frame.loc["simple_cnn.finetune.digits", "status"] == "failed"
    assert frame.loc["simple_cnn.frozen.digits", "status"] == "skipped"
    assert "failed earlier in this run: OSError: disk full" in frame.loc["simple_cnn.frozen.digits", "error"]
