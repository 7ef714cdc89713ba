"""How fast this machine is now: a fixed reference workload timed beside the suite's own figures.

A shared machine's speed drifts. On one Zen 5 machine (AMD EPYC family 26 model 2, 2 cores) six laps of one
folder, back to back, were 1.00-1.39 times the fastest lap's figures, every entry alike; two quick runs eleven
minutes apart then held only 83% of each other's final-lap p50s, because no interval taken within one run sees
the next run's moment. The probe here is one small convolutional network with fixed weights, the same on every
run, timed at batch 1: each timed job (a case's first seed) times it in its exclusive slot, and each final lap
beside its entries in every process (one probe, their median, since the processes are seconds apart);
``suite.storage.speed`` keeps every probe of this machine (its fingerprint) in the cache. The spread of those
probes over time is the machine's drift; ``suite.stats.widen`` adds it to an interval, so that the interval says
where a rerun on this machine falls, not only a rerun at this very moment.

Probes are compared only within a group (where they ran, and on how many threads), since a job beside another
runs on one thread and a lap process on all: the drift is the pooled spread within groups. Simulated
(``tests/test_drift.py``: a machine whose speed has a 12% log spread from minute to minute, seven job probes a run),
lap intervals so widened held the other run's p50 in 92% of 600 checks, against 29% without.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import tensorflow as tf

from suite.measure.timing import timed

PROBE = "conv3-32px-v1"  # names the workload; probes of another workload are never pooled with these
PROBE_CALLS, PROBE_WARMUP = 200, 20
MIN_PROBES = 3  # fewer in a group say nothing of its spread


def probe_call() -> tuple[tf.types.experimental.ConcreteFunction, tf.Tensor]:
    """The reference workload, a traced call and its batch-1 input: three 3x3 convolutions (32, 64 and 64 filters,
    the last two at stride 2) on a 32x32x3 image, pooled into 10 outputs; about 16 MFLOP, weights from a fixed seed."""
    rng = np.random.default_rng(0)
    shapes = [(3, 3, 3, 32), (3, 3, 32, 64), (3, 3, 64, 64)]
    kernels = [tf.constant(rng.normal(0, 0.1, s), tf.float32) for s in shapes]
    dense = tf.constant(rng.normal(0, 0.1, (64, 10)), tf.float32)
    image = tf.constant(rng.random((1, 32, 32, 3)), tf.float32)

    @tf.function(input_signature=[tf.TensorSpec((1, 32, 32, 3), tf.float32)])
    def call(x):
        for kernel, stride in zip(kernels, (1, 2, 2)):
            x = tf.nn.relu(tf.nn.conv2d(x, kernel, stride, "SAME"))
        return tf.matmul(tf.reduce_mean(x, axis=(1, 2)), dense)

    return call.get_concrete_function(), image


def probe_ms(calls: int = PROBE_CALLS, warmup: int = PROBE_WARMUP) -> float:
    """The reference workload's median batch-1 latency in ms, now, in this process."""
    call, image = probe_call()
    for _ in range(warmup):
        timed(call, image)
    return float(np.median([timed(call, image) * 1e3 for _ in range(calls)]))


def drift_sd(probes: pd.DataFrame) -> tuple[float, int]:
    """The machine's drift, as the pooled standard deviation of log probe latencies within groups (``where`` and
    ``threads``), and how many probes it rests on; ``(0.0, n)`` where no group has ``MIN_PROBES``."""
    if probes.empty:
        return 0.0, 0
    logs = probes.assign(log=np.log(probes["p50_ms"].astype(float)))
    groups = [g["log"] for _, g in logs.groupby(["where", "threads"]) if len(g) >= MIN_PROBES]
    used = sum(len(g) for g in groups)
    if not groups:
        return 0.0, 0
    squares = sum(float(((g - g.mean()) ** 2).sum()) for g in groups)
    return math.sqrt(squares / (used - len(groups))), used
