"""pytest-benchmark gates: batch-1 inference latency on the suite's compiled call path.

The models are built fresh (random weights: latency does not depend on them).
``benchmark.pedantic`` with warm-up rounds keeps tracing out of the timed region,
and ``.numpy()`` waits for the device before each call returns. Save a baseline
with ``--benchmark-autosave`` and gate with ``--benchmark-compare-fail=median:10%``.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

from suite.measure.timing import compiled_call  # noqa: E402
from suite.models import build_backbone, build_classifier  # noqa: E402

CASES = {"simple_cnn": 32, "resnet_scratch": 32, "mobilenet_v2": 32}


@pytest.mark.parametrize("arch", sorted(CASES))
def test_batch1_latency(benchmark, arch):
    side = CASES[arch]
    model = build_classifier(build_backbone(arch, side), 10)
    call = compiled_call(model)
    images = tf.random.uniform((1, side, side, 3))
    benchmark.group = arch
    benchmark.extra_info.update(params=model.count_params(), image_size=side)
    result = benchmark.pedantic(lambda: call(images).numpy(), warmup_rounds=5, rounds=30, iterations=1)
    assert result.shape == (1, 10)
