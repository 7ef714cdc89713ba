"""Serving under load with MLPerf LoadGen (``suite.measure.serving``), against a server whose every image takes
3 ms: SingleStream, Offline and the Server rate whose p99 keeps within the bound."""

from __future__ import annotations

import time

import numpy as np
import pytest

from suite.measure.serving import ServeBudget, read_summary, serve

SERVICE_S = 0.003
# Far above the 3 ms service time: on busy cores a sleep wakes late, and this test must hold there too (niced
# under two busy processes, a 15 ms bound was missed even at 18 queries/s, p99 116 ms).
BOUND_MS = 150.0


def three_ms_an_image(images: np.ndarray) -> np.ndarray:
    time.sleep(SERVICE_S * len(images))
    return np.zeros((len(images), 10), np.float32)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    logs = tmp_path_factory.mktemp("serving")
    budget = ServeBudget(min_duration_s=1.0, min_queries=50, bound_ms=BOUND_MS, search_runs=4, offline_batch=8)
    return serve(three_ms_an_image, np.zeros((1, 8, 8, 3), np.float32), logs, budget), logs


def test_single_stream_p90_and_offline_rate_are_the_servers_in_ms_and_images_per_second(served):
    serving, logs = served
    assert 3.0 <= serving.single_stream.p90_ms < 40, serving.single_stream  # ms: never ns or s
    assert 100 < serving.offline.samples_per_s <= 1 / SERVICE_S * 1.02, serving.offline  # one worker: <= 333/s
    assert (logs / "single_stream" / "mlperf_log_summary.txt").is_file()
    assert (logs / "offline" / "mlperf_log_detail.txt").is_file()


def test_the_server_search_finds_a_rate_below_the_offline_rate_whose_p99_keeps_within_the_bound(served):
    serving, _ = served
    first = serving.server_runs[0]
    assert first.target_qps == pytest.approx(serving.offline.samples_per_s)
    assert 0 < serving.peak_qps <= serving.offline.samples_per_s
    best = next(r for r in serving.server_runs if r.target_qps == serving.peak_qps)
    assert best.p99_ms <= BOUND_MS
    assert all(r.p99_ms > BOUND_MS for r in serving.server_runs if r.target_qps > serving.peak_qps)


def test_a_summary_is_read_in_ms_with_its_verdict():
    text = (
        "Scenario : Server\nCompleted samples per second    : 194.48\nResult is : INVALID\n"
        "90.00 percentile latency (ns)   : 13055300\n99.00 percentile latency (ns)   : 23338594\n"
    )
    run = read_summary(text, "Server", 200.0)
    assert (run.valid, run.samples_per_s, run.target_qps) == (False, 194.48, 200.0)
    assert run.p90_ms == pytest.approx(13.0553) and run.p99_ms == pytest.approx(23.338594)
    assert read_summary(text.replace("INVALID", "VALID"), "Server").valid
