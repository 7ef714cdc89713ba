"""Training images/s with and without XLA, in one process: ``python benchmarks/train_xla.py [ARCH ...]``.

Each architecture is built at 32 px with a 10-class head and trained with ``model.fit`` on in-memory random
images (``IMAGES``, batch ``BATCH``) for ``EPOCHS`` epochs, graph mode then XLA; the steady figure is
``suite.train.steady_steps`` over the epochs after the first (the first traces and compiles), timed by the
suite's own ``EpochStats``, as a case's ``train_images_per_s`` is. Prints one line per architecture and mode.
"""

from __future__ import annotations

import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from suite.models import build_backbone, build_classifier  # noqa: E402
from suite.train import EpochSize, EpochStats, steady_steps  # noqa: E402

SIDE, IMAGES, BATCH, EPOCHS = 32, 512, 32, 3  # px, images per epoch, images per step, epochs (the first untimed)


def images_per_s(arch: str, jit: bool) -> tuple[float, float, float]:
    """Steady training images/s of ``arch`` in one mode, the same from the median steady step (robust to a slow
    spell of a shared machine), and the first epoch's seconds (tracing, compiling)."""
    keras.backend.clear_session()
    keras.utils.set_random_seed(0)
    model = build_classifier(build_backbone(arch, SIDE), 10)
    model.compile(optimizer="adam", loss="categorical_crossentropy", jit_compile=jit)
    x = np.random.default_rng(0).uniform(-1, 1, (IMAGES, SIDE, SIDE, 3)).astype("float32")
    y = keras.utils.to_categorical(np.arange(IMAGES) % 10, 10)
    stats = EpochStats("train", EpochSize(images=IMAGES, steps=IMAGES // BATCH), EPOCHS, arch, time.perf_counter())
    model.fit(x, y, batch_size=BATCH, epochs=EPOCHS, callbacks=[stats], shuffle=False, verbose=0)
    done, seconds = steady_steps(stats.steps, IMAGES, BATCH)
    median_step = float(np.median([s for epoch, _, s in stats.steps if epoch >= 1]))
    return done / seconds, BATCH / median_step, stats.rows[0]["epoch_seconds"]


if __name__ == "__main__":
    for arch in sys.argv[1:] or ["resnet_scratch", "mobilenet_v2", "resnet50"]:
        rates = {}
        for jit in (False, True):
            rates[jit], by_median, first = images_per_s(arch, jit)
            mode = "xla" if jit else "graph"
            print(
                f"{arch:<16}{mode:<6}{rates[jit]:>9.1f} images/s ({by_median:.1f} at the median step), "
                f"first epoch {first:.1f} s",
                flush=True,
            )
        print(f"{arch:<16}xla/graph {rates[True] / rates[False]:.2f}", flush=True)
