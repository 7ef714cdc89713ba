"""The protocol every format is measured by, from its file: the same for Keras itself and each runtime.

Load time is file to first result. Then ``warmup_runs`` untimed calls, batch-1
latency (only the call timed, ``suite.measure.timing``: percentiles and the
windowed 95% interval on p50), throughput at each batch of the profile's sweep
the runtime accepts (the best of interleaved blocks), and the whole test split
through the runtime: accuracy, and agreement with the Keras model's
probabilities on the same images.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from suite.deploy.runtimes import RUNTIMES, Predict
from suite.measure import timing
from suite.profiles import MeasureBudget

EVAL_BATCH = 32  # images per call when a split is predicted, or the largest accepted batch below it


@dataclass(kw_only=True)
class Images:
    """A case's images for deployment, preprocessed as the model takes them (float32, NHWC)."""

    test: np.ndarray  # the case's test split (what its test_accuracy is measured on)
    labels: np.ndarray  # int class of each test image
    calibration: np.ndarray  # the first images of the case's training split, for int8 calibration


@dataclass(kw_only=True)
class FileReport:
    """One format's figures (the row's measured columns), its test probabilities and raw batch-1 latencies."""

    columns: dict
    probabilities: np.ndarray
    samples: pd.DataFrame  # window, latency_ms


def predict_all(predict: Predict, images: np.ndarray, batch: int = EVAL_BATCH) -> np.ndarray:
    """``predict`` over ``images`` in batches of ``batch`` (the last one shorter)."""
    return np.concatenate([predict(images[i : i + batch]) for i in range(0, len(images), batch)])


@dataclass(kw_only=True)
class Loaded:
    """A file on its runtime, called once on ``one`` (the first test image): what loading it took."""

    runtime: str
    predict: Predict
    threads: int
    load_seconds: float
    one: np.ndarray

    @classmethod
    def of(cls, runtime: str, path, threads: int, images: Images) -> Loaded:
        one = np.ascontiguousarray(images.test[:1])
        started = time.perf_counter()
        predict = RUNTIMES[runtime](path, threads)
        predict(one)
        seconds = time.perf_counter() - started
        return cls(runtime=runtime, predict=predict, threads=threads, load_seconds=seconds, one=one)


def measure_file(runtime: str, path, threads: int, images: Images, budget: MeasureBudget, reference: np.ndarray):
    """Measures the file at ``path`` on ``runtime`` (``RUNTIMES``) with ``threads`` threads; a ``FileReport``.

    ``reference``: the Keras model's probabilities on ``images.test``.
    """
    return _report(Loaded.of(runtime, path, threads, images), images, budget, reference, timed=True)


def check_file(runtime: str, path, threads: int, images: Images, budget: MeasureBudget, reference: np.ndarray):
    """``measure_file`` untimed: load time, accuracy and agreement only, for a seed after the timed ones
    (``MeasureBudget.timed_seeds``). It times nothing, so it may run beside other jobs' training."""
    return _report(Loaded.of(runtime, path, threads, images), images, budget, reference, timed=False)


def _report(loaded: Loaded, images: Images, budget: MeasureBudget, reference: np.ndarray, timed: bool) -> FileReport:
    one, predict = loaded.one, loaded.predict
    latencies, throughput = [], {}
    if timed:  # batch-1 latency first, as before any other batch size runs
        latencies = timing.interleaved_latencies(
            {loaded.runtime: predict}, one, *(budget.warmup_runs, budget.latency_runs),
            *(budget.latency_min_s, budget.latency_max_s),
        )[loaded.runtime]  # fmt: skip
        throughput = throughput_columns(predict, one.shape[1], budget)
    else:
        throughput = {"accepted": accepted_batches(predict, one.shape[1], budget.batches)}
    windows = timing.window_labels(len(latencies))
    accepted = [int(b) for b in throughput.pop("accepted")]
    probabilities = predict_all(predict, images.test, max([b for b in accepted if b <= EVAL_BATCH], default=1))
    columns = {
        "runtime_threads": loaded.threads,
        "load_seconds": loaded.load_seconds,
        **(timing.latency_summary(latencies, windows) if timed else {}),
        **throughput,
        "batches_accepted": " ".join(map(str, accepted)),
        **agreement(probabilities, images.labels, reference),
    }
    samples = pd.DataFrame({"window": windows, "latency_ms": latencies})
    return FileReport(columns=columns, probabilities=probabilities, samples=samples)


def accepted_batches(predict: Predict, side: int, batches: tuple[int, ...]) -> list[int]:
    """The batches of ``batches`` that ``predict`` runs (a runtime's fixed input shape rejects the others)."""
    return [batch for batch in sorted(batches) if _runs(predict, timing.random_images(batch, side).numpy())]


def _runs(predict: Predict, images: np.ndarray) -> bool:
    try:
        predict(images)
    except Exception:  # noqa: BLE001 - a runtime's way of saying no to this shape, whichever class it uses
        return False
    return True


def throughput_columns(predict: Predict, side: int, budget: MeasureBudget) -> dict:
    """Images/s at the best accepted batch of ``budget.batches`` (a batch the runtime rejects is left out)."""
    fits: dict[int, float] = {}
    for batch in accepted_batches(predict, side, budget.batches):
        fits[batch] = max(timing.timed(predict, timing.random_images(batch, side).numpy()), 1e-6)
    if not fits:
        return {"throughput_ips": None, "throughput_batch": None, "accepted": []}
    configs = {batch: (predict, batch, seconds) for batch, seconds in fits.items()}
    rates = timing.interleaved_throughput(
        configs, side, budget.throughput_runs, budget.throughput_min_s, budget.throughput_max_s
    )
    best = max(rates, key=lambda batch: rates[batch][0])
    return {"throughput_ips": rates[best][0], "throughput_batch": best, "accepted": sorted(fits)}


def agreement(probabilities: np.ndarray, labels: np.ndarray, reference: np.ndarray) -> dict:
    """Test accuracy of ``probabilities``, and their top-1 agreement and max abs difference with ``reference``."""
    top1 = probabilities.argmax(axis=1)
    return {
        "test_accuracy": float(np.mean(top1 == labels)),
        "test_images": int(len(labels)),
        "top1_agreement": float(np.mean(top1 == reference.argmax(axis=1))),
        "max_abs_prob_diff": float(np.max(np.abs(probabilities.astype(np.float64) - reference))),
    }
