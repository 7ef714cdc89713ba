"""The suite's throughput against a plain compiled-call loop over the same saved model.

For each architecture a model is saved as ``.keras`` and loaded back (the suite
measures saved case models). The suite's protocol (``measure_inference``)
reports ``throughput_ips`` and the batch and mode it was reached at.
pytest-benchmark then times a plain ``tf.function(model)`` loop at that batch,
in the same process, each round alternating with one block of the suite's own
call path in its chosen mode.

Two ratios against the plain loop, printed side by side by ``conftest.py``:

- interleaved: the median over rounds of (plain round time / adjacent suite
  block time). Adjacent blocks see the same machine, so this isolates what the
  harness itself costs. It must be at least 0.80 (``PAIRED_MIN``).
- row: the row's ``throughput_ips`` over the plain loop's best round. The two
  are timed seconds apart, in different windows of a shared machine, so this
  ratio is printed for the record and not asserted.

Measured on the project's 2-core machine, 7 runs of this file (14 ratios of
each kind; 2026-12-02, ``pytest benchmarks/test_throughput.py``), 4 while other
jobs shared the cores (load average 3-6) and 3 more with two ``yes > /dev/null``
processes holding both cores as well:

- interleaved: 0.938 to 1.154 (median 1.001); shared 0.938-1.036, with the
  ``yes`` load 0.979-1.154. The worst deviation either way is 15%, so the bound
  sits 5 points beyond it, where none of the 14 came near; it still fails a
  harness that costs a quarter more than the plain loop (eager calls,
  ``predict`` or a retrace per call cost far more).
- row: 0.517 to 1.666. Load that shifts between windows moves it by 3x, so no
  bound on it would mean anything: the former ``>= 0.90`` failed in each of the
  7 runs (and the former interleaved ``>= 0.97`` in one, at 0.938).
"""

from __future__ import annotations

import math
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

from suite.measure import measure_inference  # noqa: E402
from suite.measure.timing import compiled_call, random_images, timed  # noqa: E402
from suite.models import build_backbone, build_classifier  # noqa: E402
from suite.profiles import MeasureBudget  # noqa: E402

SIDE = 32
BLOCKS, BLOCK_S = 20, 0.2  # the suite's throughput blocks, and the plain loop's rounds, are alike
PAIRED_MIN = 0.80  # interleaved ratio; measured noise 0.938-1.154 over 14 ratios, see the docstring
BUDGET = MeasureBudget(
    latency_runs=20, latency_min_s=0.5, batches=(8, 32, 128), throughput_runs=BLOCKS, throughput_min_s=BLOCKS * BLOCK_S
)


@pytest.mark.parametrize("arch", ["resnet_scratch", "mobilenet_v2"])
def test_suite_call_path_keeps_up_with_a_plain_compiled_loop_interleaved(benchmark, arch, tmp_path, side_by_side):
    path = tmp_path / f"{arch}.keras"
    build_classifier(build_backbone(arch, SIDE), 10).save(path)
    model = keras.models.load_model(path)

    suite = measure_inference(model, SIDE, BUDGET, "cpu").row
    batch = suite["throughput_batch"]
    images = random_images(batch, SIDE)
    plain = tf.function(model)  # the plain loop: Keras' own __call__, traced once, graph mode
    ours = compiled_call(model, xla=suite["throughput_xla"])  # the suite's call path, in the mode it chose
    calls = max(1, math.ceil(BLOCK_S / timed(plain, images)))
    timed(ours, images)

    # Rounds of the plain loop alternate with blocks of the suite's call path, so that a slow
    # spell of this shared machine hits both alike; each side keeps its best block.
    ours_blocks: list[float] = []

    def plain_block():
        for _ in range(calls):
            outputs = plain(images)
        outputs.numpy()

    benchmark.group = f"{arch} throughput, batch {batch}"
    benchmark.pedantic(
        plain_block, setup=lambda: ours_blocks.append(timed(ours, images, calls)), warmup_rounds=1, rounds=BLOCKS
    )
    plain_ips = batch * calls / benchmark.stats.stats.min
    rounds = benchmark.stats.stats.data  # plain round times, in order; ours_blocks[i] ran just before round i
    paired = float(np.median(np.asarray(rounds) / np.asarray(ours_blocks[-len(rounds) :])))
    interleaved_ips = plain_ips * paired

    benchmark.extra_info.update(
        suite_ips=round(suite["throughput_ips"], 1),
        interleaved_ips=round(interleaved_ips, 1),
        plain_ips=round(plain_ips, 1),
        ratio=round(suite["throughput_ips"] / plain_ips, 3),
        interleaved_ratio=round(paired, 3),
        suite_xla=suite["throughput_xla"],
        batch=batch,
    )
    side_by_side.append({"arch": arch, **benchmark.extra_info})
    assert paired >= PAIRED_MIN, benchmark.extra_info  # the row ratio is printed, not asserted (docstring)
