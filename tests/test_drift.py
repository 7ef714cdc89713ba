"""The machine's drift (``suite.measure.speed``, ``suite.storage.speed``, ``suite.run.drift``): a fixed reference
workload's probes kept per machine, their pooled spread, and the lap's intervals widened by it so that they hold a
rerun's figure when the whole machine changes speed between runs."""

from __future__ import annotations

import math
import time

import numpy as np
import pandas as pd
import pytest

from suite import stats
from suite.measure import speed, timing
from suite.run import drift
from suite.storage import speed as history

FINGERPRINT = "d" * 12


def test_the_probe_is_milliseconds_of_one_call():
    """Against an independent clock of the same call: a unit slip (seconds, microseconds) is 1000x off."""
    call, image = speed.probe_call()
    for _ in range(10):
        call(image)
    clock = []
    for _ in range(50):
        started = time.perf_counter()
        call(image).numpy()
        clock.append((time.perf_counter() - started) * 1e3)
    probe = speed.probe_ms(calls=50, warmup=5)
    assert 0.2 < probe / float(np.median(clock)) < 5, (probe, float(np.median(clock)))


def test_the_drift_is_the_spread_within_groups_not_between_them():
    """A job beside another runs on one thread and a lap process on two: their offset is no drift."""
    rng = np.random.default_rng(0)
    wobble = rng.normal(0, 0.1, 40)
    probes = pd.DataFrame({
        "where": ["job"] * 20 + ["lap"] * 20, "threads": [1] * 20 + [2] * 20,
        "p50_ms": np.exp(np.r_[np.log(0.4) + wobble[:20], np.log(0.2) + wobble[20:]]),
    })  # fmt: skip
    sd, used = speed.drift_sd(probes)
    within = math.sqrt((wobble[:20].var(ddof=1) * 19 + wobble[20:].var(ddof=1) * 19) / 38)
    assert used == 40 and sd == pytest.approx(within)
    assert sd < np.log(probes["p50_ms"]).std() / 3, "the 2x offset between the groups is left out"
    assert speed.drift_sd(probes.head(2)) == (0.0, 0), "two probes in a group say nothing of its spread"
    assert speed.drift_sd(probes.iloc[0:0]) == (0.0, 0)


def test_widening_joins_the_drift_in_quadrature_on_each_side():
    low, high = stats.widen(2.0, 2.0 * math.exp(-0.03), 2.0 * math.exp(0.04), 0.04)
    assert math.log(2.0 / low) == pytest.approx(0.05) and math.log(high / 2.0) == pytest.approx(math.hypot(0.04, 0.04))
    assert stats.widen(2.0, 1.9, 2.1, 0.0) == (1.9, 2.1), "no drift measured: the interval as it was"
    assert stats.drift_half(0.1) == pytest.approx(1.959964 * math.sqrt(2) * 0.1, rel=1e-5)


def rerun_coverage(widened: bool, pairs: int = 300, sigma: float = 0.12) -> float:
    """Simulated quick runs on a machine whose speed changes from minute to minute (log sd ``sigma``): each run's
    seven jobs probe it at seven moments, and its lap meets it at one more, its three processes seconds apart (2%
    between them). How often one run's p50 interval holds the other's p50, both directions."""
    rng, held = np.random.default_rng(3), 0

    def run() -> dict:
        level = 1.5 * float(np.exp(rng.normal(0, sigma)))  # the lap's moment
        rounds = np.repeat(np.arange(10), 20)
        processes = [(level * np.exp(rng.normal(0, 0.02)) * (1 + rng.normal(0, 0.02, 200)), rounds) for _ in range(3)]
        row = timing.pooled_summary(processes)
        if widened:
            jobs = pd.DataFrame({"where": "job", "threads": 1, "p50_ms": 0.3 * np.exp(rng.normal(0, sigma, 7))})
            half = stats.drift_half(speed.drift_sd(jobs)[0])
            row["latency_p50_ci_low_ms"], row["latency_p50_ci_high_ms"] = stats.widen(
                row["latency_p50_ms"], row["latency_p50_ci_low_ms"], row["latency_p50_ci_high_ms"], half
            )
        return row

    for _ in range(pairs):
        a, b = run(), run()
        held += a["latency_p50_ci_low_ms"] <= b["latency_p50_ms"] <= a["latency_p50_ci_high_ms"]
        held += b["latency_p50_ci_low_ms"] <= a["latency_p50_ms"] <= b["latency_p50_ci_high_ms"]
    return held / (2 * pairs)


def test_with_the_drift_the_interval_holds_a_reruns_p50_at_least_nine_times_in_ten():
    assert rerun_coverage(widened=True) >= 0.9
    assert rerun_coverage(widened=False) < 0.6, "the premise: a quiet lap alone can't see the next run's moment"


def test_probes_are_kept_per_machine_and_workload_newest_last(tmp_path, monkeypatch):
    monkeypatch.setenv("SUITE_CACHE_DIR", str(tmp_path))
    for i in range(history.KEEP + 5):
        history.append_probe(FINGERPRINT, {"probe": speed.PROBE, "where": "job", "threads": 1, "folder": "r",
                                           "p50_ms": 1.0 + i})  # fmt: skip
    history.append_probe(FINGERPRINT, {"probe": "another-v0", "where": "job", "threads": 1, "p50_ms": 9.0})
    history.append_probe("e" * 12, {"probe": speed.PROBE, "where": "job", "threads": 1, "p50_ms": 9.0})
    kept = history.read_probes(FINGERPRINT, speed.PROBE)
    assert len(kept) == history.KEEP and kept["p50_ms"].iloc[-1] == 1.0 + history.KEEP + 4
    assert set(kept["probe"]) == {speed.PROBE} and kept["at"].str.len().min() > 0
    assert len(history.read_probes("0" * 12, speed.PROBE)) == 0, "another machine: no history"


def test_a_cache_that_cant_be_written_costs_the_probe_only(tmp_path, monkeypatch):
    blocked = tmp_path / "file"
    blocked.write_text("")
    monkeypatch.setenv("SUITE_CACHE_DIR", str(blocked))  # a file where the folder should be
    history.append_probe(FINGERPRINT, {"probe": speed.PROBE, "where": "job", "threads": 1, "p50_ms": 1.0})
    assert history.read_probes(FINGERPRINT, speed.PROBE).empty


def test_lap_rows_carry_the_drift_and_their_intervals_widen_by_it(tmp_path, monkeypatch):
    monkeypatch.setenv("SUITE_CACHE_DIR", str(tmp_path))
    row = {"latency_p50_ms": 2.0, "latency_p50_ci_low_ms": 1.9, "latency_p50_ci_high_ms": 2.1,
           "latency_p90_ms": 3.0, "latency_p90_ci_low_ms": 2.8, "latency_p90_ci_high_ms": 3.3}  # fmt: skip
    (quiet,) = drift.widen_rows([row], FINGERPRINT)
    assert quiet["drift_probes"] == 0 and quiet["latency_p50_ci_low_ms"] == 1.9, "no probes yet: as timed"
    for p50 in (1.0, 1.2, 0.9, 1.1):
        drift.record("job", tmp_path, FINGERPRINT, p50)
    (wide,) = drift.widen_rows([row], FINGERPRINT)
    sd = float(np.log([1.0, 1.2, 0.9, 1.1]).std(ddof=1))
    assert wide["drift_probes"] == 4 and wide["drift_sd"] == pytest.approx(sd)
    half = stats.drift_half(sd)
    assert (
        math.log(2.1 / 2.0)
        < math.log(wide["latency_p50_ci_high_ms"] / 2.0)
        == pytest.approx(math.hypot(math.log(2.1 / 2.0), half))
    )
    assert wide["latency_p90_ci_low_ms"] < 2.8 and wide["latency_p90_ms"] == 3.0


def test_a_failing_probe_costs_the_probe_never_the_job(tmp_path, monkeypatch):
    monkeypatch.setenv("SUITE_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(speed, "probe_ms", lambda: 1 / 0)
    assert math.isnan(drift.record("job", tmp_path, FINGERPRINT))
    assert history.read_probes(FINGERPRINT, speed.PROBE).empty


def test_narrowing_undoes_widening_and_the_front_compares_networks_without_the_shared_drift():
    """Every entry of one lap meets the same moment, so the front's network bands (which decide "clearly faster")
    leave the drift out, while each row's own interval keeps it, as a rerun would see it."""
    from suite.report.front import with_networks

    half = stats.drift_half(0.15)
    low, high = stats.widen(1.0, 0.95, 1.06, half)
    assert stats.narrow(1.0, low, high, half) == pytest.approx((0.95, 1.06))
    rows = []
    for arch, p50 in (("fast", 1.0), ("slow", 1.5)):
        low, high = stats.widen(p50, p50 * 0.95, p50 * 1.05, half)
        figures = dict(latency_p50_ms=p50, latency_p50_ci_low_ms=low, latency_p50_ci_high_ms=high, drift_sd=0.15)
        rows.append(
            dict(arch=arch, image_size=32, device_name="cpu", dataset="digits", test_accuracy_mean=0.9, **figures)
        )
    frame = with_networks(pd.DataFrame(rows)).set_index("arch")
    assert frame.loc["fast", "latency_p50_ci_high_ms"] > frame.loc["slow", "latency_p50_ci_low_ms"], "rerun: overlap"
    assert frame.loc["fast", "band_high_ms"] == pytest.approx(1.05)
    assert frame.loc["fast", "band_high_ms"] < frame.loc["slow", "band_low_ms"] == pytest.approx(1.5 * 0.95)
    without = with_networks(pd.DataFrame(rows).drop(columns="drift_sd")).set_index("arch")
    assert without.loc["fast", "band_high_ms"] > without.loc["slow", "band_low_ms"], "the premise"
    old = pd.DataFrame(rows).assign(drift_sd=None)  # a lap.csv written before the drift term, read through with_lap
    assert with_networks(old).set_index("arch").loc["fast", "band_high_ms"] == pytest.approx(
        frame.loc["fast", "latency_p50_ci_high_ms"]
    )
