"""Serving under load, measured by MLPerf LoadGen (``mlcommons-loadgen``, imported as ``mlperf_loadgen``).

One call path (a Keras model or a deployed file's runtime, ``Predict``) serves queries from one worker thread, as a
one-replica server would, and LoadGen drives it in three scenarios:

- **SingleStream**: one query at a time, the next when the last returns; its p90 (MLPerf's figure).
- **Server**: queries arrive at random (Poisson) at a target rate; the figure is the highest rate whose p99 stays
  within ``bound_ms`` (15 ms by default: MLPerf's ResNet50 Server bound), found by bisection over a few runs.
- **Offline**: every query at once, served in batches; images per second, the sustained throughput.

Each run is shorter than MLPerf's ten minutes (``ServeBudget.min_duration_s``, per profile in
``suite.profiles``): MLPerf's own "test run" mode does the same to check a setup. LoadGen's VALID/INVALID verdict
is kept with every figure, and its summary and detail logs go to ``log_dir``. A short run often reads INVALID for
early stopping (too few queries to pin a p99), so the suite's own rule for a Server rate is the p99 LoadGen
measured against the bound; the verdict says how sure.
"""

from __future__ import annotations

import dataclasses
import queue
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from suite.profiles import ServeBudget

__all__ = ["SUMMARY", "Run", "ServeBudget", "Serving", "loadgen_run", "read_summary", "serve"]

SUMMARY = "mlperf_log_summary.txt"
# LoadGen's Offline query holds expected rate x minimum duration samples: a rate read off warm-up calls ran up to
# 2x low (simple_cnn, Keras: 6,550 expected, 8,976/s sustained), and a run that ends early is INVALID.
OFFLINE_MARGIN = 2.0
Predict = Callable[[np.ndarray], object]  # a batch of images in, the batch's outputs out (host or device)


@dataclass(frozen=True, kw_only=True)
class Run:
    """What one LoadGen run reported: its scenario, the figures read off its summary, and its verdict."""

    scenario: str
    target_qps: float
    valid: bool
    p50_ms: float
    p90_ms: float
    p99_ms: float
    samples_per_s: float  # completed (Server, Offline) or issued (SingleStream) samples per second
    log_dir: str = ""  # the folder of its LoadGen logs


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
        p50_ms=number("50.00 percentile latency (ns)") / 1e6,
        p90_ms=number("90.00 percentile latency (ns)") / 1e6,
        p99_ms=number("99.00 percentile latency (ns)") / 1e6,
        samples_per_s=rate,
    )


def answered(outputs: object) -> None:
    """Waits for ``outputs``: a TensorFlow tensor is copied to the host (the device done); arrays are done."""
    if hasattr(outputs, "numpy"):
        outputs.numpy()


class OneWorker:
    """A one-replica server: queries queue in arrival order and one thread answers them with ``predict``.

    Every call is at ``batch`` (a short last chunk of an Offline query is padded to it): a traced Keras function
    would otherwise trace a new shape inside the timed run."""

    def __init__(self, predict: Predict, image: np.ndarray, batch: int = 1):
        import mlperf_loadgen as lg

        self.lg, self.predict, self.batch = lg, predict, batch
        self.inputs = np.repeat(image, batch, axis=0)
        self.queries: queue.Queue = queue.Queue()
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self) -> None:
        """Answers each query in turn until ``stop``; one ``predict`` per ``batch`` samples."""
        while (samples := self.queries.get()) is not None:
            for start in range(0, len(samples), self.batch):
                chunk = samples[start : start + self.batch]
                answered(self.predict(self.inputs))
                self.lg.QuerySamplesComplete([self.lg.QuerySampleResponse(s.id, 0, 0) for s in chunk])

    def stop(self) -> None:
        self.queries.put(None)
        self.thread.join()


def loadgen_run(predict: Predict, image: np.ndarray, scenario: str, log_dir: Path, budget: ServeBudget,
                **settings) -> Run:  # fmt: skip
    """One LoadGen run of ``scenario`` against ``predict`` (``settings``: ``TestSettings`` fields); its ``Run``.

    LoadGen's summary and detail logs stay in ``log_dir``; its trace (about 200 kB a second) is not written, and
    the empty trace and accuracy log it leaves (nothing is logged in performance mode) are removed."""
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
    logging.log_output, logging.enable_trace = output, False
    try:
        lg.StartTestWithLogSettings(sut, qsl, test, logging)
    finally:
        worker.stop()
        lg.DestroyQSL(qsl)
        lg.DestroySUT(sut)
    for empty in ("mlperf_log_trace.json", "mlperf_log_accuracy.json"):
        (log_dir / empty).unlink(missing_ok=True)
    run = read_summary((log_dir / SUMMARY).read_text(), scenario, settings.get("server_target_qps", 0.0))
    return dataclasses.replace(run, log_dir=str(log_dir))


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


def warm_up(predict: Predict, image: np.ndarray, batch: int, seconds: float = 0.2) -> tuple[float, float]:
    """Seconds of one batch-1 call and images per second at ``batch``, each from ``seconds`` of calls (3 at least)
    after a first one (tracing): what LoadGen is told to expect, so that a run is sized near its minimum duration.
    Three calls alone read a small model's rate 2x low (a LiteRT file's batch-32 call takes about a millisecond)."""
    per_call = []
    for inputs in (np.asarray(image), np.repeat(np.asarray(image), batch, axis=0)):
        answered(predict(inputs))
        calls, started = 0, time.perf_counter()
        while calls < 3 or time.perf_counter() - started < seconds:
            answered(predict(inputs))
            calls += 1
        per_call.append((time.perf_counter() - started) / calls)
    return per_call[0], batch / per_call[1]


def serve(predict: Predict, image: np.ndarray, log_dir: Path, budget: ServeBudget) -> Serving:
    """SingleStream, Offline, then a bisection of the Server rate between 0 and the Offline rate."""
    one_s, batch_ips = warm_up(predict, image, budget.offline_batch)
    single = loadgen_run(predict, image, "SingleStream", log_dir / "single_stream", budget,
                         single_stream_expected_latency_ns=max(1, int(one_s * 1e9)))  # fmt: skip
    offline = loadgen_run(predict, image, "Offline", log_dir / "offline", budget,
                          offline_expected_qps=max(1.0, batch_ips * OFFLINE_MARGIN))  # fmt: skip
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
