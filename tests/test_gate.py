"""Regression gates: pytest-benchmark's saved baselines, and the suite's accuracy and latency-p90 gate."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers import without_lap_or_serving

from suite import gate, storage
from suite.cli import main
from suite.errors import SuiteError

ROOT = Path(__file__).resolve().parents[1]


def pytest_benchmarks(*args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "pytest", "benchmarks/test_inference.py", "-p", "no:cacheprovider", *args]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)


def scale_times(baseline: Path, factor: float) -> None:
    """Rewrites a saved pytest-benchmark baseline as if every round had taken ``factor`` times as long."""
    data = json.loads(baseline.read_text())
    for bench in data["benchmarks"]:
        stats = bench["stats"]
        for key in ("min", "max", "mean", "stddev", "median", "iqr", "q1", "q3", "ld15iqr", "hd15iqr", "total"):
            stats[key] *= factor
        stats["data"] = [t * factor for t in stats.get("data", [])]
        stats["ops"] /= factor
    baseline.write_text(json.dumps(data))


def test_a_baseline_8x_faster_fails_the_compare_and_one_8x_slower_passes(tmp_path):
    storage_url = f"file://{tmp_path}"
    select = ["-k", "simple_cnn.scratch.digits and batch1", f"--benchmark-storage={storage_url}"]
    saved = pytest_benchmarks(*select, "--benchmark-autosave")
    assert saved.returncode == 0, saved.stdout[-2000:]
    (baseline,) = tmp_path.rglob("*.json")
    original = baseline.read_text()

    # The saved run and the compared run are two processes, seconds apart, on a machine whose cores other
    # jobs may hold; the largest swing between runs recorded here is 2.9x (the README: ResNet50's p50 was
    # 11 ms quiet, up to 32 ms shared). So the margins are 8x either way. Against a baseline 8x slower the
    # run passes `median:25%` unless it is itself 10x slower than when saved; against one 8x faster it fails
    # unless it got 6.4x faster. Both are more than twice any swing seen, so each leg tests the compare.
    compare = [*select, "--benchmark-compare", "--benchmark-compare-fail=median:25%"]
    scale_times(baseline, 8.0)
    slower = pytest_benchmarks(*compare)
    assert slower.returncode == 0, slower.stdout[-2000:]

    baseline.write_text(original)
    scale_times(baseline, 1 / 8)
    faster = pytest_benchmarks(*compare)
    assert faster.returncode != 0
    assert "Performance has regressed" in faster.stdout + faster.stderr


def rows(
    results: Path,
    accuracies: list[float],
    p90_ms: float,
    fingerprint: str = "aaaaaaaaaaaa",
    images: int = 360,
    device: str | None = None,
    weights: str | None = None,
    first_seed: int = 0,
) -> Path:
    """Appends one ok row of simple_cnn.scratch.digits per accuracy (seeds 0, 1, ...), on ``device`` and with
    ``weights`` if given."""
    storage.prepare(results)
    for seed, accuracy in enumerate(accuracies, start=first_seed):
        storage.append_row(
            results,
            {
                "case_id": "simple_cnn.scratch.digits",
                "status": "ok",
                "seed": seed,
                "test_accuracy": accuracy,
                "test_images": images,
                "latency_p90_ms": p90_ms,
                "fingerprint": fingerprint,
                **({"device": device} if device else {}),
                **({"weights": weights} if weights else {}),
            },
        )
    return results


def by_figure(checks: list[gate.Check]) -> dict[str, gate.Check]:
    return {c.figure: c for c in checks}


def with_predictions(results: Path, correct: np.ndarray) -> Path:
    """Writes per-image outcomes (seeds x images, 1 = right) as the run would, for the paired test."""
    for seed, row in enumerate(correct):
        storage.write_predictions(results, "simple_cnn.scratch.digits", seed, np.zeros(len(row)), 1 - row)
    return results


def test_accuracy_fails_only_when_the_paired_test_finds_the_candidate_less_accurate(tmp_path):
    """Three seeds on 360 images, about 95% right: a candidate that loses 2 images and wins 2 back per seed is
    the same; one that loses 18 of them (5 points) on every seed regressed, by the test on the images it lost."""
    rng = np.random.default_rng(0)
    old = (rng.random((3, 360)) < 0.95).astype(np.int8)
    same, worse = old.copy(), old.copy()
    for seed in range(3):
        right, wrong = np.flatnonzero(old[seed]), np.flatnonzero(old[seed] == 0)
        same[seed, right[:2]], same[seed, wrong[:2]] = 0, 1
        worse[seed, right[:18]] = 0
    folders = {}
    for name, correct in (("a", old), ("b", same), ("c", worse)):
        folders[name] = with_predictions(rows(tmp_path / name, list(correct.mean(axis=1)), 2.0), correct)
    assert all(c.passed for c in gate.gate(folders["a"], folders["b"])[0])
    accuracy = by_figure(gate.gate(folders["a"], folders["c"])[0])["test_accuracy"]
    assert not accuracy.passed and "paired on seeds and test images" in accuracy.band
    assert accuracy.candidate == pytest.approx(accuracy.baseline - 18 / 360)  # fractions, not points
    assert accuracy.baseline - 18 / 360 < accuracy.limit < accuracy.baseline  # the allowance is the interval's
    message = accuracy.message()
    assert "simple_cnn.scratch.digits: test_accuracy" in message and "REGRESSED" in message


def test_without_per_image_outcomes_the_gate_falls_back_to_the_unpaired_test_and_says_so(tmp_path):
    """Seeds 95.0-96.0% against 90.0-91.0% on 360 images: each interval is about +-2.5 points, so 5 points
    apart is a regression even unpaired; 0.5 points apart is not."""
    baseline = rows(tmp_path / "a", [0.95, 0.955, 0.96], 2.0)
    same = rows(tmp_path / "b", [0.945, 0.95, 0.955], 2.1)
    worse = rows(tmp_path / "c", [0.90, 0.905, 0.91], 2.0)
    assert all(c.passed for c in gate.gate(baseline, same)[0])
    accuracy = by_figure(gate.gate(baseline, worse)[0])["test_accuracy"]
    assert not accuracy.passed and "unpaired" in accuracy.band
    assert "allowed >= 0.9" in accuracy.message()


def test_latency_p90_may_rise_only_within_the_tolerance_and_toml_sets_it_per_case(tmp_path):
    baseline = rows(tmp_path / "a", [0.95], 2.0)
    slower = rows(tmp_path / "b", [0.95], 2.5)
    assert not by_figure(gate.gate(baseline, slower)[0])["latency_p90_ms"].passed
    thresholds = tmp_path / "gate.toml"
    thresholds.write_text(
        '[defaults]\nlatency_p90_tolerance = 0.1\n[cases."simple_cnn.*"]\nlatency_p90_tolerance = 0.3\n'
    )
    latency = by_figure(gate.gate(baseline, slower, thresholds)[0])["latency_p90_ms"]
    assert latency.passed and latency.limit == pytest.approx(2.6)


def test_a_gpu_regression_is_not_hidden_by_the_cpu_rows_of_the_same_case(tmp_path, capsys):
    baseline, candidate = tmp_path / "a", tmp_path / "b"
    for folder, gpu_p90_ms in ((baseline, 1.0), (candidate, 2.0)):
        rows(folder, [0.95], 10.0, device="cpu")
        rows(folder, [0.95], gpu_p90_ms, device="gpu")
    # Pooled over both devices the p90 medians are 5.5 and 6.0 ms, within 15%; on the GPU alone it doubled.
    checks, only_one = gate.gate(baseline, candidate)
    assert [c.passed for c in checks if c.figure == "latency_p90_ms"] == [True, False]
    assert only_one == []
    latency = {c.device: c for c in checks if c.figure == "latency_p90_ms"}
    assert (latency["cpu"].baseline, latency["cpu"].candidate) == (10.0, 10.0)
    assert (latency["gpu"].baseline, latency["gpu"].candidate) == (1.0, 2.0)
    assert "simple_cnn.scratch.digits (gpu): latency_p90_ms 2 against baseline 1" in latency["gpu"].message()
    assert main(["gate", str(baseline), str(candidate)]) == 1
    out, err = capsys.readouterr()
    printed = [line.split() for line in out.splitlines()]
    assert printed[0] == ["case_id", "device", "figure", "baseline", "candidate", "limit", "verdict"]
    verdicts = {(line[1], line[2]): line[-1] for line in printed[1:5]}
    assert verdicts == {
        ("cpu", "test_accuracy"): "ok",
        ("cpu", "latency_p90_ms"): "ok",
        ("gpu", "test_accuracy"): "ok",
        ("gpu", "latency_p90_ms"): "REGRESSED",
    }
    assert "REGRESSION simple_cnn.scratch.digits (gpu): latency_p90_ms" in err


def test_a_device_in_one_folder_only_is_listed_not_pooled_into_the_other(tmp_path):
    baseline, candidate = tmp_path / "a", tmp_path / "b"
    rows(baseline, [0.95], 2.0, images=10_000, device="cpu")
    rows(baseline, [0.99], 2.0, images=10_000, device="gpu")
    rows(candidate, [0.95], 2.0, images=10_000, device="cpu")
    # Pooled, the baseline's 0.97 against the candidate's CPU-only 0.95 is a drop of 0.02, beyond the 0.0054
    # that 10,000 test images allow; per device the CPU did not move and the GPU has nothing to compare.
    checks, only_one = gate.gate(baseline, candidate)
    assert all(c.passed for c in checks)
    assert {c.device for c in checks} == {"cpu"}
    assert only_one == ["simple_cnn.scratch.digits (gpu)"]


def test_seeds_whose_weights_resolved_differently_are_pooled_not_dropped(tmp_path):
    """weights=auto may resolve to imagenet one night and source:glyphs another: still one case and device."""
    baseline, candidate = tmp_path / "a", tmp_path / "b"
    rows(baseline, [0.95] * 3, 2.0, weights="imagenet")
    rows(baseline, [0.85] * 3, 2.0, weights="source:glyphs", first_seed=3)
    rows(candidate, [0.90] * 3, 2.0, weights="imagenet")
    rows(candidate, [0.90] * 3, 2.0, weights="source:glyphs", first_seed=3)
    # Keeping only the imagenet group would compare 0.95 with 0.90 and fail; all six seeds give 0.90 and 0.90.
    accuracy = by_figure(gate.gate(baseline, candidate)[0])["test_accuracy"]
    assert (accuracy.baseline, accuracy.candidate) == pytest.approx((0.90, 0.90))
    assert accuracy.passed


def test_the_gate_refuses_other_machines_and_bad_thresholds(tmp_path, capsys):
    baseline = rows(tmp_path / "a", [0.95], 2.0)
    elsewhere = rows(tmp_path / "b", [0.95], 2.0, fingerprint="bbbbbbbbbbbb")
    assert main(["gate", str(baseline), str(elsewhere)]) == 2
    assert "machine fingerprints" in capsys.readouterr().err
    assert main(["gate", str(baseline), str(elsewhere), "--force"]) == 0
    bad = tmp_path / "bad.toml"
    bad.write_text("[defaults]\nlatency_tolerance = 0.1\n")
    with pytest.raises(SuiteError, match="unknown key 'latency_tolerance'"):
        gate.load_thresholds(bad)


@pytest.fixture(scope="module")
def three_runs(tmp_path_factory):
    """simple_cnn from scratch in the quick profile at its base rate (no rate grid: ``test_rate_grid`` tests it):
    seed 0, seed 1, and seed 0 trained on random labels."""
    base = tmp_path_factory.mktemp("gate")
    case = ["run", "simple_cnn.scratch.digits", "--profile", "quick", "--formats", "none", "--seeds", "1"]
    case += ["--set", "lr_grid=0"]
    with without_lap_or_serving("quick"):  # the gate retimes the models itself; the lap's figures aren't read here
        assert main([*case, "--results", str(base / "seed0")]) == 0
        assert main([*case, "--results", str(base / "seed1"), "--first-seed", "1"]) == 0
        assert main([*case, "--results", str(base / "shuffled"), "--set", "label_noise=1.0"]) == 0
    assert not (base / "seed0" / "lap.csv").exists(), "the profile was patched for the run"
    thresholds = base / "gate.toml"
    thresholds.write_text("[defaults]\nlatency_p90_tolerance = 1.0  # the accuracy gate is under test here\n")
    return base, thresholds


def test_the_accuracy_gate_passes_another_seed_and_fails_a_run_on_shuffled_labels(three_runs, capsys):
    base, thresholds = three_runs
    seeds = [storage.read_results(base / name)["seed"].tolist() for name in ("seed0", "seed1")]
    assert seeds == [[0], [1]]
    capsys.readouterr()
    assert main(["gate", str(base / "seed0"), str(base / "seed1"), "--thresholds", str(thresholds)]) == 0
    assert main(["gate", str(base / "seed0"), str(base / "shuffled"), "--thresholds", str(thresholds)]) == 1
    err = capsys.readouterr().err
    assert "REGRESSION simple_cnn.scratch.digits (cpu): test_accuracy" in err and "allowed >=" in err
    shuffled = storage.read_results(base / "shuffled").iloc[0]
    # Broken, judged on validation: with every training label random, seeds 0-2 ended at 8.9%, 13.3% and 16.1% of
    # the 180 validation digits (chance 10%; 2026-12-07, 2 shared AMD EPYC cores). 30% is 14 points above the highest.
    assert shuffled["val_accuracy"] < 0.3 and json.loads(shuffled["case_json"])["label_noise"] == 1.0


def formats(results: Path, int8_accuracy: float, keras_accuracy: float = 0.95) -> Path:
    """Writes ``formats.csv`` for simple_cnn.scratch.digits: Keras, LiteRT float32 (as accurate) and LiteRT int8."""
    storage.prepare_formats(results)
    for name, accuracy, quantised in (
        ("keras", keras_accuracy, False),
        ("litert_fp32", keras_accuracy, False),
        ("litert_int8", int8_accuracy, True),
    ):
        storage.append_format_row(
            results,
            {
                "case_id": "simple_cnn.scratch.digits", "seed": 0, "format": name, "status": "ok",
                "quantised": quantised, "test_accuracy": accuracy, "test_images": 360, "latency_p50_ms": 1.0,
                "latency_p90_ms": 1.2, "fingerprint": "aaaaaaaaaaaa",
            },
        )  # fmt: skip
    return results


def test_a_quantised_format_may_lose_one_point_against_its_keras_row_and_toml_sets_it_per_case(tmp_path, capsys):
    baseline = rows(tmp_path / "a", [0.95], 2.0)
    two_points = formats(rows(tmp_path / "b", [0.95], 2.0), int8_accuracy=0.93)
    half_point = formats(rows(tmp_path / "c", [0.95], 2.0), int8_accuracy=0.945)
    check = by_figure(gate.gate(baseline, two_points)[0])["litert_int8 test_accuracy"]
    assert not check.passed and check.limit == pytest.approx(0.94) and check.candidate == pytest.approx(0.93)
    assert "litert_fp32 test_accuracy" not in by_figure(gate.gate(baseline, two_points)[0])  # not quantised
    assert main(["gate", str(baseline), str(two_points)]) == 1
    assert "REGRESSION simple_cnn.scratch.digits: litert_int8 test_accuracy 0.93" in capsys.readouterr().err
    assert by_figure(gate.gate(baseline, half_point)[0])["litert_int8 test_accuracy"].passed
    assert main(["gate", str(baseline), str(half_point)]) == 0
    thresholds = tmp_path / "gate.toml"
    thresholds.write_text('[cases."simple_cnn.*"]\nformat_accuracy_drop_points = 2.5\n')
    check = by_figure(gate.gate(baseline, two_points, thresholds)[0])["litert_int8 test_accuracy"]
    assert check.passed and check.limit == pytest.approx(0.925)
    assert not any(" test_accuracy" in c.figure for c in gate.gate(two_points, baseline)[0])  # no formats.csv


def test_a_row_whose_accuracy_its_outcomes_contradict_is_tested_from_its_figures(tmp_path):
    """CI's own check: a copy of a run with results.csv's accuracy set to 0 but its predictions left as they were.
    The outcomes no longer give the row's accuracy, so they are not used, and the drop is a regression."""
    correct = (np.random.default_rng(0).random((3, 360)) < 0.9).astype(np.int8)
    baseline = with_predictions(rows(tmp_path / "a", list(correct.mean(axis=1)), 2.0), correct)
    edited = with_predictions(rows(tmp_path / "b", [0.0, 0.0, 0.0], 2.0), correct)
    accuracy = by_figure(gate.gate(baseline, edited)[0])["test_accuracy"]
    assert not accuracy.passed and "unpaired" in accuracy.band


def with_model(results: Path, depth: int = 0) -> Path:
    """Saves a simple_cnn (``depth`` conv blocks, default 3) as the case's seed-0 model, as a run would."""
    from suite.models import build_backbone, build_classifier

    path = storage.case_file(results, "models", "simple_cnn.scratch.digits", 0, ".keras")
    path.parent.mkdir(parents=True, exist_ok=True)
    build_classifier(build_backbone("simple_cnn", 32, depth=depth), 10).save(path)
    return results


@pytest.fixture
def busy_core():
    """One core kept busy by another process while the test runs: the gate must hold on a loaded machine."""
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    yield
    spinner.kill()
    spinner.wait()


def test_latency_is_retimed_side_by_side_so_a_rerun_passes_and_a_deeper_model_fails_on_busy_cores(tmp_path, busy_core):
    """Both folders kept the case's model: the gate times them together, 10 rounds in a new random order each.
    The stored p90s (2 ms and 9 ms) are not what it compares: a rerun of the same network passes although its
    stored figure is 4.5x, and a network with twice the conv blocks (6 against 3) fails although its stored p90
    is lower, while another process keeps one of the two cores busy."""
    baseline = with_model(rows(tmp_path / "a", [0.95], 2.0))
    rerun = with_model(rows(tmp_path / "b", [0.95], 9.0))
    deeper = with_model(rows(tmp_path / "c", [0.95], 1.0), depth=6)
    same = by_figure(gate.gate(baseline, rerun)[0])["latency_p90_ms"]
    assert same.passed and "timed side by side here" in same.band, same.message()
    assert 0.01 < same.baseline < 50 and 0.01 < same.candidate < 50  # ms of this machine, not the stored 2 and 9
    slowed = by_figure(gate.gate(baseline, deeper)[0])["latency_p90_ms"]
    assert not slowed.passed and slowed.candidate > slowed.limit > slowed.baseline, slowed.message()


def test_the_retimed_check_needs_every_round_slower_and_by_more_than_the_minimum_rise():
    limits = gate.Thresholds(latency_min_rise=0.05)
    base = np.full(10, 1.0)

    def check(candidate) -> gate.Check:
        return gate.retimed_check(
            ("c", "cpu"), gate.Retimed(baseline=base, candidate=np.asarray(candidate), level=0.95), limits
        )

    assert not check(np.full(10, 1.5)).passed  # every round 50% slower
    assert check(np.full(10, 1.04)).passed  # sure, but under the 5% that matters
    assert check([1.5] * 8 + [0.9] * 2).passed  # 95% sign test on 10 rounds: [x(2), x(9)] reaches 0.9
    assert not check([1.5] * 9 + [0.9]).passed
    assert check([0.5] * 10).passed  # faster never fails
