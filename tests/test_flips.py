"""``suite compare``'s reproducibility summary: what flipped between two runs (suite.report.flips)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from suite import storage
from suite.cli import main
from suite.report import compare, flips
from suite.report.folder import ResultsFolder

IMAGES = 360
# case -> (arch, p50 ms, accuracy): "fast" is the quicker network, "slow" the more accurate one, "slowest" is
# neither. Their p90s (1.5, 4.5, 8.5 ms) are asked the ladder's 2, 5 and 10 ms budgets.
CASES = {
    "fast.scratch.digits": ("fast", 1.0, 0.90),
    "slow.scratch.digits": ("slow", 4.0, 0.97),
    "slowest.scratch.digits": ("slowest", 8.0, 0.50),
}


def run(folder: Path, accuracy: dict[str, float] | None = None, seeds: int = 3) -> Path:
    """A results folder of CASES (accuracies overridden by ``accuracy``), three seeds, with per-image outcomes
    drawn at random from the case and seed: a second run of the same figures gets the same outcomes."""
    storage.prepare(folder)
    for case_id, (arch, p50, default) in CASES.items():
        share = (accuracy or {}).get(case_id, default)
        for seed in range(seeds):
            draw = np.random.default_rng([seed, sum(map(ord, arch))])  # the same outcomes in every run
            correct = (draw.random(IMAGES) < share).astype(np.int8)
            storage.write_predictions(folder, case_id, seed, np.zeros(IMAGES), 1 - correct)
            storage.append_row(folder, {
                "case_id": case_id, "arch": arch, "regime": "scratch", "dataset": "digits", "weights": "none",
                "device": "cpu", "device_name": "cpu: test", "status": "ok", "seed": seed, "fingerprint": "f" * 12,
                "test_accuracy": correct.mean(), "test_images": IMAGES, "image_size": 32,
                "latency_p50_ms": p50, "latency_p50_ci_low_ms": 0.95 * p50, "latency_p50_ci_high_ms": 1.05 * p50,
                "latency_p90_ms": p50 + 0.5,
            })  # fmt: skip
    return folder


def found(a: Path, b: Path) -> flips.Flips:
    return flips.flips(ResultsFolder.read(a), ResultsFolder.read(b))


def test_a_rerun_that_reproduces_flips_nothing_and_every_accuracy_lies_in_the_other_interval(tmp_path):
    same = found(run(tmp_path / "a"), run(tmp_path / "b"))
    assert (same.front, same.budgets, same.crossovers, same.outside) == ([], [], [], [])
    assert same.intervals_checked == 6 and same.outside_rate == 0.0  # 3 cases, both directions
    assert same.front_checked == 3 and same.budgets_checked == 3


def test_a_case_that_moved_is_counted_outside_in_both_directions_and_flips_the_front_and_the_pick(tmp_path):
    """slow drops from 97% to 80%: off the front (fast is now more accurate and faster), and the two budgets that
    hold it (5 and 10 ms) turn from slow to fast; its mean lies outside the other run's interval both ways."""
    moved = found(run(tmp_path / "a"), run(tmp_path / "b", {"slow.scratch.digits": 0.80}))
    assert [(f["case_id"], f["on_front_in"]) for f in moved.front] == [("slow.scratch.digits", "A")]
    assert [(f["budget_ms"], f["a"], f["b"]) for f in moved.budgets] == [
        (5.0, "slow.scratch.digits", "fast.scratch.digits"),
        (10.0, "slow.scratch.digits", "fast.scratch.digits"),
    ]
    assert {(f["case_id"], f["run"]) for f in moved.outside} == {("slow.scratch.digits", "A"),
                                                                 ("slow.scratch.digits", "B")}  # fmt: skip
    assert moved.outside_rate == pytest.approx(2 / 6)
    assert "Budget picks: 2 of 3 flipped" in moved.to_text() and "(33.3%)" in moved.to_text()


def test_answers_tied_in_both_runs_are_not_a_flip(tmp_path):
    """Both networks at 90%: every budget that holds both is a tie in both runs, whichever mean is higher."""
    tie_a = {"slow.scratch.digits": 0.90, "fast.scratch.digits": 0.905}
    tie_b = {"slow.scratch.digits": 0.905, "fast.scratch.digits": 0.90}
    tied = found(run(tmp_path / "a", tie_a), run(tmp_path / "b", tie_b))
    assert tied.budgets == [] and tied.budgets_checked >= 1


def test_compare_json_prints_the_summary_for_ci(tmp_path, capsys):
    a, b = run(tmp_path / "a"), run(tmp_path / "b", {"slow.scratch.digits": 0.80})
    capsys.readouterr()
    assert main(["compare", str(a), str(b), "--out", str(tmp_path / "out"), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["cases_compared"] == 3 and printed["accuracy_changed"] == ["slow.scratch.digits"]
    assert printed["flips"]["outside_rate"] == pytest.approx(2 / 6)
    assert json.loads((tmp_path / "out" / "compare.json").read_text()) == printed
    assert "What flipped" in compare.compare_runs(a, b).to_text()


def test_final_lap_p50s_are_checked_against_the_other_runs_interval_both_ways():
    import pandas as pd

    def lap(p50: float, low: float, high: float) -> pd.DataFrame:
        return pd.DataFrame({"device_name": ["cpu: t"], "network": ["net @ 32 px"], "format": ["onnx"],
                             "latency_p50_ms": [p50], "latency_p50_ci_low_ms": [low],
                             "latency_p50_ci_high_ms": [high]})  # fmt: skip

    quiet, busy = lap(1.0, 0.95, 1.05), lap(1.4, 0.8, 2.4)
    outside, checked = flips.lap_outside_flips(quiet, busy)
    assert checked == 2 and [(f["run"], f["value"]) for f in outside] == [("B", 1.4)], "1.4 outside 0.95-1.05 only"
    assert flips.lap_outside_flips(quiet, lap(1.02, 0.9, 1.1)) == ([], 2)
    assert flips.lap_outside_flips(quiet, None) == ([], 0)
    text = flips.Flips(lap_outside=outside, lap_checked=checked).to_text()
    assert "Final-lap p50s outside the other run's rerun interval: 1 of 2 (50%)" in text
    assert "net @ 32 px (onnx): B's 1.4 ms outside [0.95, 1.05]" in text


def test_the_lap_count_without_the_drift_shows_what_the_drift_term_holds():
    import pandas as pd

    from suite.stats import drift_half, widen

    low, high = widen(1.0, 0.95, 1.05, drift_half(0.15))
    drifted = pd.DataFrame({"device_name": ["cpu: t"], "network": ["net @ 32 px"], "format": ["onnx"],
                            "latency_p50_ms": [1.0], "latency_p50_ci_low_ms": [low], "latency_p50_ci_high_ms": [high],
                            "drift_sd": [0.15]})  # fmt: skip
    slower = drifted.assign(latency_p50_ms=1.3, latency_p50_ci_low_ms=1.3 * low, latency_p50_ci_high_ms=1.3 * high)
    assert flips.lap_outside_flips(drifted, slower) == ([], 2), "a 1.3x drift inside both widened intervals"
    narrowed, checked = flips.lap_outside_flips(drifted, slower, drift=False)
    assert checked == 2 and {f["run"] for f in narrowed} == {"A", "B"}, "outside both intervals of one moment"
    text = flips.Flips(lap_outside=[], lap_checked=2, lap_outside_moment=2).to_text()
    assert "0 of 2 (0%); without the machine's drift in the intervals, 2 of 2" in text
