"""Inference latency and throughput of a trained model, on a compiled call path.

``model.predict()`` adds Keras' own per-call overhead (1.3-1.6x at batch 32 on
this project's CPUs), so it is not a latency measurement. Here the model runs
inside one ``tf.function``; untimed warm-up calls absorb tracing and
compilation; each timed call ends with ``.numpy()``, which waits for the device
to finish before the clock stops. Raw samples are returned with the summary.
"""

from __future__ import annotations

import time

import numpy as np
import tensorflow as tf

from suite.profiles import MeasureBudget


def compiled_call(model) -> tf.types.experimental.GenericFunction:
    """``model(x, training=False)`` as one traced graph, without Keras' predict loop."""
    return tf.function(lambda images: model(images, training=False), reduce_retracing=True)


def _timed(call, images: tf.Tensor) -> float:
    started = time.perf_counter()
    call(images).numpy()  # copies the result to the host: the device is synchronised
    return time.perf_counter() - started


def latency(call, side: int, budget: MeasureBudget) -> tuple[dict[str, float], np.ndarray]:
    """Batch-1 latency of ``call`` (see ``compiled_call``) in ms: ``(summary, samples_ms)``, after warm-up."""
    images = tf.random.uniform((1, side, side, 3), -1.0, 1.0)
    for _ in range(budget.warmup_runs):
        _timed(call, images)
    samples: list[float] = []
    started = time.perf_counter()
    while len(samples) < budget.latency_runs or time.perf_counter() - started < budget.latency_min_s:
        samples.append(_timed(call, images) * 1e3)
    ms = np.asarray(samples)
    summary = {
        "latency_p50_ms": float(np.percentile(ms, 50)),
        "latency_p90_ms": float(np.percentile(ms, 90)),
        "latency_p99_ms": float(np.percentile(ms, 99)),
        "latency_mean_ms": float(ms.mean()),
        "latency_std_ms": float(ms.std(ddof=1)) if len(ms) > 1 else 0.0,
        "latency_n": len(ms),
    }
    return summary, ms


def throughput(call, side: int, budget: MeasureBudget) -> dict[str, float]:
    """Images per second of ``call`` at ``budget.throughput_batch``, from the median of the timed calls."""
    batch = budget.throughput_batch
    images = tf.random.uniform((batch, side, side, 3), -1.0, 1.0)
    for _ in range(max(2, budget.warmup_runs // 2)):
        _timed(call, images)
    seconds = np.asarray([_timed(call, images) for _ in range(budget.throughput_runs)])
    return {"throughput_ips": float(batch / np.median(seconds)), "throughput_batch": batch}
