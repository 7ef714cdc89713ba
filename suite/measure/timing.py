"""Timing primitives: compiled call paths, batch-1 latency with a bootstrap interval, batch sweeps.

``model.predict()`` adds Keras' own per-call overhead (1.3-1.6x at batch 32 on
this project's CPUs), so it is never used for timing. Models run inside one
``tf.function`` (graph mode) or one XLA-compiled ``tf.function``. The first call
traces and compiles and is timed apart; untimed warm-up calls follow; every
timed region ends with ``.numpy()``, which waits for the device.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import tensorflow as tf
from scipy import stats

from suite.stats import median_rank

Call = Callable[[tf.Tensor], tf.Tensor]


def compiled_call(model, xla: bool = False) -> Call:
    """``model(x, training=False)`` as one traced graph (``xla=True``: one XLA cluster), without ``predict``.

    Each batch size gets its own trace with static shapes. (``reduce_retracing``
    would relax the batch to ``None`` after two sizes, and that generic graph ran
    MobileNetV2 at batch 128 about 5-10% slower than one traced for 128 alone.)
    """
    return tf.function(lambda images: model(images, training=False), jit_compile=xla)


def random_images(batch: int, side: int) -> tf.Tensor:
    """A batch in the preprocessed input range [-1, 1]; inference time does not depend on the pixels."""
    return tf.random.uniform((batch, side, side, 3), -1.0, 1.0, dtype=tf.float32, seed=0)


def timed(call: Call, images: tf.Tensor, calls: int = 1) -> float:
    """Seconds for ``calls`` back-to-back calls, the device synchronised before the clock stops."""
    started = time.perf_counter()
    for _ in range(calls):
        outputs = call(images)
    if hasattr(outputs, "numpy"):  # a tensor: copying it to the host waits for the device
        outputs.numpy()  # (runtimes outside TensorFlow return host arrays: already done)
    return time.perf_counter() - started


def batch1_seconds(model, side: int, calls: int, warmup: int = 2) -> tuple[float, float]:
    """Seconds of ``model``'s first batch-1 call in graph mode (tracing) and the median of ``calls`` more, after
    ``warmup`` untimed ones: the quick figure a tuner's trial or a ``--budget`` probe needs (the row's figures
    come from the full protocol, ``suite.measure.inference``)."""
    call = compiled_call(model, xla=False)
    image = random_images(1, side)
    first = timed(call, image)
    if warmup:
        timed(call, image, calls=warmup)
    return first, float(np.median([timed(call, image) for _ in range(calls)]))


def bootstrap_ci(samples: np.ndarray, statistic=np.median, level: float = 0.95, resamples: int = 2000) -> tuple:
    """Percentile-bootstrap interval of ``statistic`` over ``samples`` (seeded, so reruns agree)."""
    if len(samples) < 2:
        value = float(statistic(samples)) if len(samples) else float("nan")
        return value, value
    rng = np.random.default_rng(0)
    picks = rng.integers(0, len(samples), size=(resamples, len(samples)))
    estimates = statistic(samples[picks], axis=1)
    tail = (1 - level) / 2 * 100
    return float(np.percentile(estimates, tail)), float(np.percentile(estimates, 100 - tail))


LATENCY_WINDOWS = 8  # contiguous windows of a latency run whose medians give the p50 interval ...
MIN_PER_WINDOW = 5  # ... fewer when there are too few calls to give each window this many


def window_labels(count: int, windows: int = LATENCY_WINDOWS) -> np.ndarray:
    """The window (0, 1, ...) of each of ``count`` calls in time order: contiguous runs of near-equal length."""
    parts = max(1, min(windows, count // MIN_PER_WINDOW))
    return (np.arange(count) * parts) // max(count, 1)


def window_interval(samples: np.ndarray, windows: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """A 95% interval for the median latency that a rerun on this machine would see.

    Calls from one short stretch share that stretch's machine state, so an
    interval from resampling calls sees only the noise inside the stretch, and
    a rerun falls outside it. Here each window gives its median, and the
    interval is the sign test's, over those medians: distribution-free, so a
    burst of load in one window widens it without dragging it. With fewer than
    6 windows (under 30 calls) no such interval reaches 95%; it is then the
    range of the window medians joined with the bootstrap over calls.
    """
    medians = np.sort([np.median(samples[windows == w]) for w in np.unique(windows)])
    rank = median_rank(len(medians), level)
    if rank:
        return float(medians[rank - 1]), float(medians[-rank])
    low, high = bootstrap_ci(samples, level=level)
    return min(low, float(medians[0])), max(high, float(medians[-1]))


def window_percentile_interval(
    samples: np.ndarray, windows: np.ndarray, q: float, level: float = 0.95, resamples: int = 1000
) -> tuple[float, float]:
    """A 95% interval for the ``q``-th percentile of ``samples``, from a bootstrap over whole ``windows``.

    A tail percentile can't be taken per window (a window's 5-20 calls barely have a 90th), so the windows are
    resampled whole, with replacement, and the percentile taken over the calls they bring: a block bootstrap,
    which keeps the between-window spread that a rerun shows. Seeded, so reruns of the report agree.
    """
    groups = [samples[windows == w] for w in np.unique(windows)]
    if len(groups) < 2:
        return bootstrap_ci(
            samples, statistic=lambda values, axis=None: np.percentile(values, q, axis=axis), level=level
        )
    picks = np.random.default_rng(0).integers(0, len(groups), size=(resamples, len(groups)))
    if len({len(group) for group in groups}) == 1:  # equal windows (rounds): every resample at once
        estimates = np.percentile(np.stack(groups)[picks].reshape(resamples, -1), q, axis=1)
    else:
        estimates = [np.percentile(np.concatenate([groups[i] for i in row]), q) for row in picks]
    tail = (1 - level) / 2 * 100
    return float(np.percentile(estimates, tail)), float(np.percentile(estimates, 100 - tail))


RERUN_WIDENING = 2**0.5  # a rerun's figure has noise of its own: the interval of a difference of two equal estimates


def rerun_interval(estimate: float, low: float, high: float) -> tuple[float, float]:
    """The interval a rerun's figure falls in, from a 95% confidence interval ``(low, high)`` of ``estimate``.

    A confidence interval covers the true value, but a rerun reports an estimate with its own noise; that one falls
    inside only about 83% of the time. The interval of the difference of two estimates of equal precision is
    ``sqrt(2)`` times as wide, so each side is stretched by that much around the estimate (never below 0 ms).
    Measured on one Zen 5 machine: final laps of one folder in three processes covered each other's p50 in 62 of 72
    checks with the confidence interval, 67 of 72 with this one.
    """
    low, high = min(low, estimate), max(high, estimate)
    return max(0.0, estimate - RERUN_WIDENING * (estimate - low)), estimate + RERUN_WIDENING * (high - estimate)


def latency_summary(samples_ms: np.ndarray, windows: np.ndarray | None = None) -> dict[str, float]:
    """p50/p90/p99, mean, std and n of batch-1 latencies in time order, with 95% rerun intervals on p50 and p90.

    The p50's confidence interval comes from the medians of the ``windows`` (default: ``window_labels``) through
    ``window_interval``, the p90's from ``window_percentile_interval``; ``rerun_interval`` widens each to where a
    rerun's figure falls, which is what the report's ranks and the run-against-run checks need.
    """
    p50, p90 = float(np.percentile(samples_ms, 50)), float(np.percentile(samples_ms, 90))
    windows = window_labels(len(samples_ms)) if windows is None else windows
    low, high = rerun_interval(p50, *window_interval(samples_ms, windows))
    low90, high90 = rerun_interval(p90, *window_percentile_interval(samples_ms, windows, 90))
    return {
        "latency_p50_ms": p50,
        "latency_p50_ci_low_ms": low,
        "latency_p50_ci_high_ms": high,
        "latency_p90_ms": p90,
        "latency_p90_ci_low_ms": low90,
        "latency_p90_ci_high_ms": high90,
        "latency_p99_ms": float(np.percentile(samples_ms, 99)),
        "latency_mean_ms": float(samples_ms.mean()),
        "latency_std_ms": float(samples_ms.std(ddof=1)) if len(samples_ms) > 1 else 0.0,
        "latency_n": int(len(samples_ms)),
    }


def process_interval(estimate: float, per_process: list[float], level: float = 0.95) -> tuple[float, float]:
    """Where a rerun's figure falls, from the figure's spread between ``per_process`` estimates (one per process).

    Each process loads its own models, allocates its own memory and meets the machine at another moment; that
    spread is what a rerun sees and what rounds inside one process miss (``suite.run.lap``). A rerun made of as
    many processes differs from this run by ``t * s * sqrt(2 / P)`` in log space (Student's t with P - 1 degrees of
    freedom), since latencies scale by factors; the interval is that, around ``estimate``.
    """
    values = np.log(np.asarray([v for v in per_process if v > 0], dtype=float))
    if len(values) < 2:
        return estimate, estimate
    half = stats.t.ppf((1 + level) / 2, len(values) - 1) * values.std(ddof=1) * np.sqrt(2 / len(values))
    return float(estimate * np.exp(-half)), float(estimate * np.exp(half))


def pooled_summary(per_process: list[tuple[np.ndarray, np.ndarray]]) -> dict[str, float]:
    """``latency_summary`` of the calls of several processes together, each process's rounds its own windows, with
    each interval widened to ``process_interval``'s where the processes disagree more than their rounds do."""
    offsets = np.cumsum([0] + [int(labels.max()) + 1 for _, labels in per_process[:-1]])
    samples = np.concatenate([values for values, _ in per_process])
    windows = np.concatenate([labels + offset for (_, labels), offset in zip(per_process, offsets)])
    summary = latency_summary(samples, windows)
    by_process = {q: [float(np.percentile(values, q)) for values, _ in per_process] for q in (50, 90)}
    for q, figures in by_process.items():
        low, high = process_interval(summary[f"latency_p{q}_ms"], figures)
        summary[f"latency_p{q}_ci_low_ms"] = min(summary[f"latency_p{q}_ci_low_ms"], low)
        summary[f"latency_p{q}_ci_high_ms"] = max(summary[f"latency_p{q}_ci_high_ms"], high)
    summary["p50_by_process_ms"] = " ".join(f"{p50:.6g}" for p50 in by_process[50])
    return summary


def interleaved_latencies(
    calls: dict, images: tf.Tensor, warmup: int, runs: int, min_s: float, max_s: float
) -> dict[object, np.ndarray]:
    """Batch latencies in ms of each call in ``calls``, taken in turn so that a slow spell hits all alike.

    After ``warmup`` untimed calls each, it times at least ``runs`` calls each and
    goes on for at least ``min_s`` seconds per call path, stopping at ``max_s`` per path.
    """
    for call in calls.values():
        for _ in range(warmup):
            timed(call, images)
    samples: dict[object, list[float]] = {key: [] for key in calls}
    started = time.perf_counter()
    while True:
        for key, call in calls.items():
            samples[key].append(timed(call, images) * 1e3)
        elapsed, taken = time.perf_counter() - started, len(samples[next(iter(calls))])
        if taken >= runs and elapsed >= min_s * len(calls):
            break
        if taken >= 2 and elapsed >= max_s * len(calls):
            break
    return {key: np.asarray(values) for key, values in samples.items()}


def feasible_batches(call: Call, side: int, batches: list[int]) -> tuple[dict[int, float], list[int]]:
    """Warms ``call`` up at each batch size, ascending: ``({batch: seconds per call}, [batches out of memory])``.

    On ``ResourceExhaustedError`` the batch is halved and retried, and larger
    batches are not tried.
    """
    fits: dict[int, float] = {}
    oom: list[int] = []
    for batch in sorted(batches):
        while batch >= 1 and batch not in fits:
            try:
                images = random_images(batch, side)
                timed(call, images)  # traces (and compiles) for this shape
                fits[batch] = max(timed(call, images), 1e-6)
            except tf.errors.ResourceExhaustedError:
                oom.append(batch)
                batch //= 2
        if oom:
            break
    return fits, sorted(oom)


def interleaved_throughput(
    configs: dict, side: int, runs: int, min_s: float, max_s: float
) -> dict[object, tuple[float, float]]:
    """Images/s of each ``(call, batch, seconds_per_call)`` in ``configs``: ``{key: (best, median)}``.

    Blocks of back-to-back calls are timed round-robin over every configuration,
    ``runs`` rounds, so that every batch size and execution mode sees the same
    spells of a shared machine. A block lasts about ``min_s / runs`` seconds
    (slow calls get fewer rounds, at least two, to stay near ``max_s`` per
    configuration). The best block is the figure: other processes only ever
    slow a block down, so the fastest is the most reproducible estimate of what
    the model sustains (the reasoning of Python's ``timeit``); the median is kept.
    """
    slowest = max(seconds for _, _, seconds in configs.values())
    runs = max(2, min(runs, int(max_s / slowest)))
    plan = {
        key: (call, random_images(batch, side), max(1, int(np.ceil(min_s / runs / seconds))))
        for key, (call, batch, seconds) in configs.items()
    }
    blocks: dict[object, list[float]] = {key: [] for key in plan}
    for _ in range(runs):
        for key, (call, images, calls) in plan.items():
            blocks[key].append(timed(call, images, calls) / calls)
    result = {}
    for key, times in blocks.items():
        batch = configs[key][1]
        result[key] = (float(batch / min(times)), float(batch / np.median(times)))
    return result


def round_latencies(
    calls: dict, images: dict, rounds: int, calls_per_round: int, warmup: int, seed: int = 0
) -> dict[object, tuple[np.ndarray, np.ndarray]]:
    """Batch-1 latencies in ms of every call path, timed side by side: ``rounds`` rounds, each visiting every path
    once in a new random order (Google Benchmark's random interleaving) for ``calls_per_round`` timed calls.

    ``images``: each path's input, by the same keys. A load swing then falls on every path alike, and the spread
    between rounds is what a rerun sees. Returns each path's latencies and the round of each, for
    ``latency_summary(samples, rounds)``. Seeded, so two laps visit the paths in the same orders.
    """
    for key, call in calls.items():
        for _ in range(warmup):
            timed(call, images[key])
    samples: dict[object, list[float]] = {key: [] for key in calls}
    keys, order = list(calls), np.random.default_rng(seed)
    for _ in range(rounds):
        for index in order.permutation(len(keys)):
            key = keys[index]
            samples[key] += [timed(calls[key], images[key]) * 1e3 for _ in range(calls_per_round)]
    labels = np.repeat(np.arange(rounds), calls_per_round)
    return {key: (np.asarray(values), labels) for key, values in samples.items()}
