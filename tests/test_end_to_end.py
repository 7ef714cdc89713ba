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


def test_every_row_carries_the_measurement_protocol_and_the_machine(smoke_run):
    results, _ = smoke_run
    frame = storage.read_results(results)
    assert (frame["latency_p50_ci_low_ms"] <= frame["latency_p50_ms"]).all()
    assert (frame["latency_p50_ms"] <= frame["latency_p50_ci_high_ms"]).all()
    assert (frame["latency_p50_ms"] <= frame["latency_p90_ms"]).all()
    assert (frame["latency_p90_ms"] <= frame["latency_p99_ms"]).all()
    assert frame["xla"].isin([True, False]).all() and set(frame["precision"]) == {"float32"}
    assert frame["throughput_batch"].isin([1, 8, 16]).all()  # the smoke profile's sweep
    assert (frame["gflops_per_image"] > 0).all() and (frame["model_mb"] > 0).all()
    assert frame["roofline_fraction"].between(0, 1).all() and (frame["peak_gflops"] > 0).all()
    assert (frame["peak_rss_mb"] > 100).all() and frame["peak_gpu_mb"].isna().all()
    assert (frame["train_images_per_s"] > 0).all() and (frame["target_accuracy"] == 0.95).all()
    assert frame["fingerprint"].nunique() == 1 and frame["fingerprint"].str.len().eq(12).all()
    assert (frame["cpu_count"] != "").all() and (frame["git_commit"] != "").all()


def test_each_case_leaves_a_model_a_history_and_latency_samples(smoke_run):
    results, _ = smoke_run
    model = keras.models.load_model(results / "models" / "simple_cnn.scratch.digits-s0.keras")
    assert model.output_shape == (None, 10)
    history = pd.read_csv(results / "history" / "mobilenet_v2.finetune.digits-s0.csv")
    assert history["phase"].tolist() == ["head", "finetune"]
    assert {"loss", "accuracy", "val_accuracy", "lr", "epoch_seconds", "images_per_s"} <= set(history.columns)
    samples = pd.read_csv(results / "latency" / "simple_cnn.scratch.digits-s0.csv")
    assert set(samples["xla"]) == {True, False} and (samples["latency_ms"] > 0).all()
    row = storage.read_results(results).set_index("case_id").loc["simple_cnn.scratch.digits"]
    chosen = samples[samples["xla"] == row["xla"]]["latency_ms"]
    assert len(chosen) == row["latency_n"] and chosen.median() == pytest.approx(row["latency_p50_ms"], rel=1e-3)
    curve = pd.read_csv(results / "throughput" / "simple_cnn.scratch.digits-s0.csv")
    assert sorted(curve[curve["xla"]]["batch"]) == sorted(curve[~curve["xla"]]["batch"]) == [1, 8, 16]
    best = curve.loc[curve["images_per_s"].idxmax()]  # the row's figure: the best of both modes' sweeps
    assert best["images_per_s"] == pytest.approx(row["throughput_ips"], rel=1e-3)
    assert (best["batch"], best["xla"]) == (row["throughput_batch"], row["throughput_xla"])
    assert (curve["median_images_per_s"] <= curve["images_per_s"] * (1 + 1e-9)).all()
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
    row = storage.read_results(tmp_path).iloc[0]
    assert row["test_accuracy"] >= 0.97
    history = pd.read_csv(tmp_path / "history" / "resnet_scratch.scratch.digits-s0.csv")
    first = history[history["val_accuracy"] >= row["target_accuracy"]].iloc[0]
    assert row["time_to_target_s"] == pytest.approx(first["elapsed_s"], abs=0.01)
    assert 0 < row["time_to_target_s"] <= row["train_seconds"] + 1


def test_report_refuses_rows_from_another_machine_unless_forced(smoke_run, tmp_path, capsys):
    import shutil

    results, _ = smoke_run
    mixed = tmp_path / "mixed"
    shutil.copytree(results, mixed)
    moved = storage.read_results(results).iloc[0].to_dict()
    moved.update(fingerprint="0123456789ab", tf_version="2.99.0", seed=7)
    storage.append_row(mixed, {k: v for k, v in moved.items() if isinstance(v, str) or pd.notna(v)})
    before = (mixed / "results.csv").read_bytes()
    assert main(["report", str(mixed)]) == 2
    assert "machine fingerprints (differing: tf_version)" in capsys.readouterr().err
    assert main(["run", "simple_cnn.scratch.digits", "--profile", "smoke", "--results", str(mixed)]) == 2
    assert "another machine fingerprint" in capsys.readouterr().err
    assert (mixed / "results.csv").read_bytes() == before  # refused, and nothing written
    assert main(["report", str(mixed), "--force"]) == 0


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
