"""A real `suite run`, killed with SIGKILL part-way and run again: the table, the models, the chart, the rerun."""

from __future__ import annotations

import csv
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import pytest
from helpers import smoke_args, without_lap_or_serving

from suite import storage
from suite.case import reaches
from suite.cli import main

SMOKE_CASES = ["simple_cnn.*.digits", "resnet_scratch.frozen.digits", "mobilenet_v2.finetune.digits"]


@dataclass
class KilledAndResumed:
    results: Path
    code: int  # exit code of the rerun
    rows_before_kill: int
    workers: list[int]  # worker processes alive at the kill
    first_output: str  # what the killed run printed, to a file as in an overnight log


def _children(pid: int) -> list[int]:
    """The child processes of every thread of ``pid`` (under ``--jobs N`` the workers start from a pool's threads)."""
    children = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            children += [int(p) for p in (task / "children").read_text().split()]
        except FileNotFoundError:  # the thread or the process has gone: no children
            pass
    return children


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"  # a zombie is dead
    except (FileNotFoundError, ProcessLookupError):  # gone; any other error is the test's to raise
        return False


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory) -> KilledAndResumed:
    """``suite run --profile smoke`` killed with SIGKILL once two cases are done, then the same command again."""
    results = tmp_path_factory.mktemp("smoke")
    args = ["run", *SMOKE_CASES, "--profile", "smoke", "--results", str(results), "--device", "cpu"]
    log = results.parent / "first-run.log"
    with log.open("w") as out:
        first = subprocess.Popen([sys.executable, "-m", "suite", *args], stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline and first.poll() is None:
            path = storage.results_path(results)
            if path.is_file() and path.read_text().count("\n") >= 3:  # the header and two rows
                break
            time.sleep(0.2)
        while time.monotonic() < deadline and first.poll() is None and not _children(first.pid):
            time.sleep(0.05)  # the third case's worker is starting: kill while it is in flight
        workers = _children(first.pid)
        first.send_signal(signal.SIGKILL)
        first.wait()
    rows_before_kill = storage.results_path(results).read_text().count("\n") - 1
    code = main(args)
    return KilledAndResumed(results, code, rows_before_kill, workers, log.read_text())


def test_a_run_killed_with_sigkill_resumes_to_every_case_once(smoke_run):
    expected = 9  # seven simple_cnn regimes (tuned too), resnet_scratch.frozen, mobilenet_v2.finetune
    assert 2 <= smoke_run.rows_before_kill < expected, "the kill landed after some cases and before the end"
    assert smoke_run.code == 0
    assert smoke_run.workers and not any(_alive(pid) for pid in smoke_run.workers), "no orphan worker survives"
    raw = storage.results_path(smoke_run.results).read_text()
    assert raw.endswith("\n")
    lines = list(csv.reader(raw.splitlines()))
    assert lines[0] == storage.COLUMNS and all(len(line) == len(storage.COLUMNS) for line in lines)
    frame = pd.read_csv(storage.results_path(smoke_run.results))
    assert len(frame) == expected and not frame.duplicated(["case_id", "seed"]).any()
    assert (frame["status"] == "ok").all() and frame["case_key"].str.len().eq(12).all()
    assert "\x1b" not in smoke_run.first_output, "an overnight log gets plain lines, no control characters"
    assert f"[2/{expected} done" in smoke_run.first_output and "started" in smoke_run.first_output


def test_smoke_run_writes_one_ok_row_per_case(smoke_run):
    results = smoke_run.results
    frame = storage.read_results(results)
    expected = {
        "simple_cnn.scratch.digits",
        "simple_cnn.frozen.digits",
        "simple_cnn.finetune.digits",
        "simple_cnn.freeze25.digits",
        "simple_cnn.freeze50.digits",
        "simple_cnn.freeze75.digits",
        "simple_cnn.tuned.digits",
        "resnet_scratch.frozen.digits",
        "mobilenet_v2.finetune.digits",
    }
    assert set(frame["case_id"]) == expected and len(frame) == len(expected)
    assert (frame["status"] == "ok").all(), frame[["case_id", "error"]]
    tuned = frame.set_index("case_id").loc["simple_cnn.tuned.digits"]
    assert tuned["tuner"] == "random" and tuned["tuner_trials"] == 3 and tuned["tuner_search_seconds"] > 0
    assert len(pd.read_csv(results / "tuning" / "simple_cnn.tuned.digits" / "trials.csv")) == 3
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
    results = smoke_run.results
    frame = storage.read_results(results)
    for row in frame.itertuples():  # every figure of the row, recomputed from its stored samples
        samples = pd.read_csv(results / "latency" / f"{row.case_id}-s0.csv")
        chosen = samples.loc[samples["xla"] == row.xla, "latency_ms"]
        for q in (50, 90, 99):
            assert getattr(row, f"latency_p{q}_ms") == pytest.approx(np.percentile(chosen, q), rel=1e-5)
        assert row.latency_p50_ci_low_ms <= row.latency_p50_ms <= row.latency_p50_ci_high_ms
    assert frame["xla"].isin([True, False]).all() and set(frame["precision"]) == {"float32"}
    assert frame["throughput_batch"].isin([1, 8, 16]).all()  # the smoke profile's sweep
    assert (frame["gflops_per_image"] > 0).all()
    achieved = frame["gflops_per_image"] * frame["throughput_ips"]
    assert np.allclose(frame["achieved_gflops"], achieved, rtol=1e-4)
    roof = np.maximum(frame["peak_gflops"], frame["theoretical_gflops"])
    assert np.allclose(frame["roofline_fraction"], achieved / roof, rtol=1e-4)
    assert (frame["roofline_fraction"] < 1).all() and frame["peak_gflops"].nunique() == 1, "one roof per machine"
    simple = frame[frame["arch"] == "simple_cnn"]
    assert np.allclose(simple["model_mb"], simple["params"] * 4 / 1e6)  # float32 weights, whatever the regime
    assert (simple["checkpoint_mb"] > simple["model_mb"]).all() and frame["peak_gpu_mb"].isna().all()
    assert (frame["train_images_per_s"] > 0).all() and (frame["target_accuracy"] == 0.95).all()
    assert frame["fingerprint"].nunique() == 1 and frame["fingerprint"].str.len().eq(12).all()
    assert (frame["cpu_count"] != "").all() and (frame["git_commit"] != "").all()


def test_each_case_leaves_a_model_a_history_and_latency_samples(smoke_run):
    results = smoke_run.results
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
    chart = results / "charts" / "accuracy_vs_latency.png"
    assert chart.read_bytes()[:4] == b"\x89PNG"
    assert (results / "summary.csv").is_file()


def test_the_run_ends_with_a_final_lap_that_the_report_reads(smoke_run):
    """After the cases train, every network and the deployed files are timed again side by side (smoke: 3 rounds
    of 5 calls): one row per network, its regimes together, and one per format of simple_cnn.scratch; the
    headline's latencies are the lap's, and it says so."""
    results = smoke_run.results
    lap = storage.read_lap(results)
    rows = storage.read_results(results)
    networks = lap[lap["format"] == "keras"]
    assert sorted(c for cases in networks["cases"] for c in cases) == sorted(
        rows.loc[rows["status"] == "ok", "case_id"].unique()
    )
    simple = networks[networks["cases"].map(lambda cases: "simple_cnn.scratch.digits" in cases)].iloc[0]
    assert {f"simple_cnn.{r}.digits" for r in ("frozen", "finetune", "freeze50")} <= set(simple["cases"])
    assert set(lap.loc[lap["format"] != "keras", "format"]) == {"litert_fp32", "onnx"}
    assert (lap["latency_n"] == 15).all() and (lap["latency_p50_ms"] > 0).all()
    summary = (results / "summary.md").read_text()
    files = len(lap) - len(networks)
    assert f"Latency: the final lap, which timed {len(networks)} network(s) and {files} deployed file(s)" in summary


def test_a_rerun_skips_cases_already_done(smoke_run, capsys):
    results = smoke_run.results
    before = storage.read_results(results)
    assert main(smoke_args("simple_cnn.scratch.digits", results=results)) == 0
    assert "already done" in capsys.readouterr().out
    assert len(storage.read_results(results)) == len(before)


def test_report_rebuilds_from_stored_rows(smoke_run):
    results = smoke_run.results
    chart = results / "charts" / "accuracy_vs_latency.png"
    chart.unlink()
    assert main(["report", str(results)]) == 0
    assert chart.is_file()


def test_a_failing_case_is_a_row_not_a_crash(tmp_path):
    cases = tmp_path / "cases.toml"
    cases.write_text(
        '[[case]]\narch = "simple_cnn"\nregime = "scratch"\ndataset = "digits"\n'
        'id = "simple_cnn.scratch.digits.diverges"\noptimizer = "sgd"\nlearning_rate = 1e30\n'
        '[[case]]\narch = "simple_cnn"\nregime = "scratch"\ndataset = "digits"\nid = "simple_cnn.scratch.digits.ok"\n'
    )
    code = main(smoke_args(results=tmp_path / "r", more=["--cases", str(cases)]))
    assert code == 1
    frame = storage.read_results(tmp_path / "r").set_index("case_id")
    diverged = frame.loc["simple_cnn.scratch.digits.diverges"]
    assert diverged["status"] == "failed" and diverged["error"].startswith("Diverged: loss became nan")
    assert frame.loc["simple_cnn.scratch.digits.ok", "status"] == "ok"
    trace = (tmp_path / "r" / "errors" / "simple_cnn.scratch.digits.diverges-s0.txt").read_text()
    assert trace.startswith("Traceback") and "Diverged" in trace


@pytest.mark.slow
def test_resnet_scratch_reaches_97_percent_validation_accuracy_on_digits_in_the_quick_profile(tmp_path):
    """Quick's ResNet-20 budget, asserted on validation accuracy (180 digits), never on the reported test figure.

    At quick's 5 epochs, seeds 0-2 ended at 98.9%, 100% and 100% validation; at 4-12 epochs, 18 runs in all, the
    lowest was 98.3% (2026-12-07, 2 shared AMD EPYC cores; profiles.SEED_BUDGETS). 97% is 175 of 180: three
    images below the lowest seed at this budget. (It once asserted one seed's test accuracy >= 97%, and a quiet CI
    run failed at 96.94%.)
    """
    args = ["run", "resnet_scratch.scratch.digits", "--profile", "quick", "--formats", "none"]
    args += ["--results", str(tmp_path)]
    with without_lap_or_serving("quick"):  # accuracy is under test; what quick times after its jobs is not
        assert main(args) == 0
    row = storage.read_results(tmp_path).iloc[0]
    assert row["val_accuracy"] >= 0.97
    history = pd.read_csv(tmp_path / "history" / "resnet_scratch.scratch.digits-s0.csv")
    # The one rule for a target (suite.case.reaches): 171/180 = 0.95 arrives as float32 0.94999999.
    first = history[reaches(history["val_accuracy"], row["target_accuracy"])].iloc[0]
    assert row["time_to_target_s"] == pytest.approx(first["elapsed_s"], abs=0.01)
    assert 0 < row["time_to_target_s"] <= row["train_seconds"] + 1


def test_report_refuses_rows_from_another_machine_unless_forced(smoke_run, tmp_path, capsys):
    import shutil

    results = smoke_run.results
    mixed = tmp_path / "mixed"
    shutil.copytree(results, mixed)
    moved = storage.read_results(results).iloc[0].to_dict()
    moved.update(fingerprint="0123456789ab", tf_version="2.99.0", seed=7)
    storage.append_row(mixed, {k: v for k, v in moved.items() if isinstance(v, str) or pd.notna(v)})
    before = (mixed / "results.csv").read_bytes()
    assert main(["report", str(mixed)]) == 2
    assert "machine fingerprints (differing: tf_version)" in capsys.readouterr().err
    assert main(smoke_args("simple_cnn.scratch.digits", results=mixed)) == 2
    assert "another machine fingerprint" in capsys.readouterr().err
    assert (mixed / "results.csv").read_bytes() == before  # refused, and nothing written
    assert main(["report", str(mixed), "--force"]) == 0


@pytest.fixture
def broken_source(monkeypatch) -> list[tuple]:
    """Source pretraining fails with a full disk, in this process; the list collects each attempt's arguments."""
    from suite import transfer

    attempts = []

    def broken(*args, **kwargs):
        attempts.append(args)
        raise OSError("disk full")

    monkeypatch.setattr(transfer, "pretrain_on_source", broken)
    return attempts


def test_cases_whose_source_pretraining_failed_are_skipped_not_retried(tmp_path, broken_source):
    attempts = broken_source
    cases = ("simple_cnn.frozen.digits", "simple_cnn.finetune.digits")
    code = main(smoke_args(*cases, results=tmp_path, more=["--executor", "inline"]))  # the patch lives in this process
    assert code == 1 and len(attempts) == 1
    frame = storage.read_results(tmp_path).set_index("case_id")
    # Whichever runs first (cheapest first: frozen) fails; the other is skipped without trying again.
    assert sorted(frame["status"]) == ["failed", "skipped"]
    skipped = frame[frame["status"] == "skipped"].iloc[0]
    assert "failed earlier in this run: OSError: disk full" in skipped["error"]


def test_a_failed_source_is_known_to_every_process_of_the_run_and_retried_by_the_next(tmp_path, broken_source):
    """Ray runs each job in a process of its own: a source failure must be known from the folder, not memory."""
    from suite.profiles import get_profile
    from suite.registry import get_case
    from suite.run.runner import Runner
    from suite.run.settings import RunSettings

    attempts = broken_source
    profile = get_profile("smoke")
    storage.prepare(tmp_path)
    first, second = (
        Runner(RunSettings.build(profile, tmp_path, device="cpu")) for _ in range(2)
    )  # two workers of one run
    failed = first.run_case(profile.apply(get_case("simple_cnn.finetune.digits")), seed=0)
    skipped = second.run_case(profile.apply(get_case("simple_cnn.frozen.digits")), seed=0)
    assert (failed["status"], skipped["status"], len(attempts)) == ("failed", "skipped", 1)
    assert "failed earlier in this run: OSError: disk full" in skipped["error"]
    args = smoke_args("simple_cnn.frozen.digits", results=tmp_path, more=["--executor", "inline"])
    assert main(args) == 1 and len(attempts) == 2, "a new run tries the source again"
    assert storage.read_results(tmp_path).iloc[-1]["status"] == "failed"
