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
    outputs.numpy()  # copies the last result to the host, which waits for the device
    return time.perf_counter() - started


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


def latency_summary(samples_ms: np.ndarray) -> dict[str, float]:
    """p50/p90/p99, mean, std and n of batch-1 latencies, with a bootstrap 95% interval on p50."""
    low, high = bootstrap_ci(samples_ms)
    return {
        "latency_p50_ms": float(np.percentile(samples_ms, 50)),
        "latency_p50_ci_low_ms": low,
        "latency_p50_ci_high_ms": high,
        "latency_p90_ms": float(np.percentile(samples_ms, 90)),
        "latency_p99_ms": float(np.percentile(samples_ms, 99)),
        "latency_mean_ms": float(samples_ms.mean()),
        "latency_std_ms": float(samples_ms.std(ddof=1)) if len(samples_ms) > 1 else 0.0,
        "latency_n": int(len(samples_ms)),
    }


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
