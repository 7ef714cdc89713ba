"""Serving under load, measured by MLPerf LoadGen (``mlcommons-loadgen``, imported as ``mlperf_loadgen``).

One call path (a Keras model or a deployed file's runtime, ``Predict``) serves queries from one worker thread, as a
one-replica server would, and LoadGen drives it in three scenarios:

- **SingleStream**: one query at a time, the next when the last returns; its p90 (MLPerf's figure).
- **Server**: queries arrive at random (Poisson) at a target rate; the figure is the highest rate whose p99 stays
  within ``bound_ms`` (15 ms by default: MLPerf's ResNet50 Server bound), found by bisection over a few runs.
- **Offline**: every query at once, served in batches; images per second, the sustained throughput.

Each run is shorter than MLPerf's ten minutes (``ServeBudget.min_duration_s``): MLPerf's own "test run" mode does
the same to check a setup. LoadGen's VALID/INVALID verdict is kept with every figure, and its summary and detail
logs go to ``log_dir``. A short run often reads INVALID for early stopping (too few queries to pin a p99), so the
suite's own rule for a Server rate is the p99 LoadGen measured against the bound; the verdict says how sure.
"""

from __future__ import annotations

import queue
import re
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SUMMARY = "mlperf_log_summary.txt"


@dataclass(frozen=True, kw_only=True)
class ServeBudget:
    """How long each LoadGen run lasts and how the Server search goes."""

    min_duration_s: float = 5.0  # per LoadGen run (MLPerf: 600 s)
    min_queries: int = 100  # per LoadGen run (MLPerf: 270,336 for Server)
    bound_ms: float = 15.0  # the Server scenario's p99 bound
    search_runs: int = 5  # Server runs of the bisection, after the first at the Offline rate
    offline_batch: int = 32  # images per call in the Offline scenario


@dataclass(frozen=True, kw_only=True)
class Run:
    """What one LoadGen run reported: its scenario, the figures read off its summary, and its verdict."""

    scenario: str
    target_qps: float
    valid: bool
    p90_ms: float
    p99_ms: float
    samples_per_s: float  # completed (Server, Offline) or issued (SingleStream) samples per second


def read_summary(text: str, scenario: str, target_qps: float = 0.0) -> Run:
    """The figures of a ``mlperf_log_summary.txt``: percentiles in ns become ms."""

    def number(label: str) -> float:
        found = re.search(rf"^{re.escape(label)}\s*:\s*([0-9.eE+-]+)", text, re.MULTILINE)
        return float(found.group(1)) if found else float("nan")

    rate = number("Samples per second") if scenario == "Offline" else number("Completed samples per second")
    if scenario == "SingleStream":
        rate = number("QPS w/o loadgen overhead")
    return Run(
        scenario=scenario,
        target_qps=target_qps,
        valid=bool(re.search(r"^Result is\s*:\s*VALID", text, re.MULTILINE)),
        p90_ms=number("90.00 percentile latency (ns)") / 1e6,
        p99_ms=number("99.00 percentile latency (ns)") / 1e6,
        samples_per_s=rate,
    )


class OneWorker:
    """A one-replica server: queries queue in arrival order and one thread answers them with ``predict``."""

    def __init__(self, predict, image: np.ndarray, batch: int = 1):
        import mlperf_loadgen as lg

        self.lg, self.predict, self.batch = lg, predict, batch
        self.inputs = np.repeat(image, batch, axis=0)
        self.queries: queue.Queue = queue.Queue()
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self) -> None:
        while (samples := self.queries.get()) is not None:
            for start in range(0, len(samples), self.batch):
                chunk = samples[start : start + self.batch]
                self.predict(self.inputs[: len(chunk)])
                self.lg.QuerySamplesComplete([self.lg.QuerySampleResponse(s.id, 0, 0) for s in chunk])

    def stop(self) -> None:
        self.queries.put(None)
        self.thread.join()


def loadgen_run(predict, image: np.ndarray, scenario: str, log_dir: Path, budget: ServeBudget, **settings) -> Run:
    """One LoadGen run of ``scenario`` against ``predict`` (``settings``: ``TestSettings`` fields); its ``Run``."""
    import mlperf_loadgen as lg

    worker = OneWorker(predict, image, budget.offline_batch if scenario == "Offline" else 1)
    sut = lg.ConstructSUT(worker.queries.put, lambda: None)
    qsl = lg.ConstructQSL(1024, 1024, lambda samples: None, lambda samples: None)
    test = lg.TestSettings()
    test.scenario, test.mode = getattr(lg.TestScenario, scenario), lg.TestMode.PerformanceOnly
    test.min_duration_ms, test.min_query_count = int(budget.min_duration_s * 1000), budget.min_queries
    for name, value in settings.items():
        setattr(test, name, value)
    log_dir.mkdir(parents=True, exist_ok=True)
    output = lg.LogOutputSettings()
    output.outdir, output.copy_summary_to_stdout = str(log_dir), False
    logging = lg.LogSettings()
    logging.log_output = output
    try:
        lg.StartTestWithLogSettings(sut, qsl, test, logging)
    finally:
        worker.stop()
        lg.DestroyQSL(qsl)
        lg.DestroySUT(sut)
    return read_summary((log_dir / SUMMARY).read_text(), scenario, settings.get("server_target_qps", 0.0))


@dataclass(frozen=True, kw_only=True)
class Serving:
    """The three scenarios' figures for one call path, and every Server run of the search."""

    single_stream: Run
    offline: Run
    server_runs: list[Run]
    bound_ms: float

    @property
    def peak_qps(self) -> float:
        """The highest Server rate tried whose p99 stayed within the bound (0 if none did)."""
        within = [r.target_qps for r in self.server_runs if r.p99_ms <= self.bound_ms]
        return max(within, default=0.0)


def serve(predict, image: np.ndarray, log_dir: Path, budget: ServeBudget = ServeBudget()) -> Serving:
    """SingleStream, Offline, then a bisection of the Server rate between 0 and the Offline rate."""
    single = loadgen_run(predict, image, "SingleStream", log_dir / "single_stream", budget,
                         single_stream_expected_latency_ns=int(1e6))  # fmt: skip
    offline = loadgen_run(predict, image, "Offline", log_dir / "offline", budget,
                          offline_expected_qps=max(1.0, single.samples_per_s * budget.offline_batch))  # fmt: skip
    low, high, runs = 0.0, max(1.0, offline.samples_per_s), []
    rate = high
    for step in range(budget.search_runs + 1):
        run = loadgen_run(predict, image, "Server", log_dir / f"server_{step}", budget, server_target_qps=rate,
                          server_target_latency_ns=int(budget.bound_ms * 1e6))  # fmt: skip
        runs.append(run)
        if run.p99_ms <= budget.bound_ms and step == 0:
            break  # the Offline rate itself keeps within the bound: nothing faster is sustainable
        low, high = (rate, high) if run.p99_ms <= budget.bound_ms else (low, rate)
        rate = (low + high) / 2
    return Serving(single_stream=single, offline=offline, server_runs=runs, bound_ms=budget.bound_ms)
