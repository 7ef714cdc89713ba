"""Whether a case trains under XLA (``jit_compile=True``): measured once per machine and model shape, then cached.

Keras 3's ``jit_compile="auto"`` leaves XLA off on a CPU-only machine and under tf.distribute, and turns it
on for a GPU whenever every layer supports it; yet XLA speeds some networks' training and slows others'
(the inference protocol measures both modes for the same reason, ``suite.measure.inference``). So before a
case is built, ``choose`` times a few training steps of its network each way, on random images at its side
and global batch, after untimed warm-up steps (the first traces and compiles), the two modes alternated so
that a busy spell of a shared machine hits both alike. XLA is used only if it is at least ``MIN_SPEEDUP``
faster. The answer is cached per machine fingerprint, architecture (and builder hash), side, batch and
depth under ``<cache>/train_jit/``, so each shape is probed once per machine: the probe trains the whole
network, and its answer serves every regime. It is not free: compiling one training step under XLA took
20 s (simple_cnn) to 3 min 14 s (mobilenet_v2) at 32 px on this project's 2 shared cores, and XLA then
trained 4-16x slower than graph mode there. So the overnight profile probes (``Profile.train_xla``), where a
night amortises it and a GPU may gain; smoke, quick and mobile keep Keras' ``auto`` and their times.

Nothing here can make a row less honest: XLA stays off under a tf.distribute strategy (as Keras' own
"auto" keeps it) and where Keras refuses it for the model; if the probe fails under XLA, training runs
without it and the row says why (``train_jit_note``). A failed probe is not cached, so it is tried again.

Keras, TensorFlow and ``suite.train`` (which imports Keras) are imported inside ``_step``, the probe itself: a
cached answer is read without starting TensorFlow.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from statistics import median

from suite.case import Case
from suite.environment import cache_dir, environment
from suite.errors import one_line
from suite.models import build_backbone, build_classifier, builder_hash

log = logging.getLogger(__name__)

PROBE_VERSION = 1  # bump when the probe changes, so older cached choices are measured again
WARMUP_STEPS = 2  # untimed steps each way: the first traces (and under XLA compiles) the training step
TIMED_STEPS = 5  # timed steps each way, alternated; the median of each is compared
MIN_SPEEDUP = 1.05  # XLA trains only if its median step is at least this much faster than graph mode's


@dataclass(frozen=True, kw_only=True)
class Choice:
    """What a case trains with, and the evidence."""

    jit_compile: bool | str  # passed to model.compile for every phase: True, False or "auto"
    speedup: float | None  # graph-mode median step s / XLA median step s; None where not measured
    note: str  # why, in words: "probe: XLA 1.32x", "XLA failed in the probe: ...; off"

    @property
    def columns(self) -> dict:
        """The row's ``train_jit_compile`` (empty for ``auto`` until training says what Keras resolved it to),
        ``train_jit_speedup`` and ``train_jit_note``."""
        chosen = self.jit_compile if isinstance(self.jit_compile, bool) else None
        speedup = None if self.speedup is None else round(self.speedup, 3)
        return {"train_jit_compile": chosen, "train_jit_speedup": speedup, "train_jit_note": self.note}


AUTO = Choice(
    jit_compile="auto", speedup=None, note="auto: Keras' default (off on CPU, on where a GPU runs every layer)"
)


def choose(case: Case, side: int, num_classes: int) -> Choice:
    """Whether ``case`` trains faster under XLA here, from the cache or a probe (see the module docstring)."""
    if case.strategy != "none":
        return Choice(jit_compile=False, speedup=None, note="off: XLA stays off under a tf.distribute strategy")
    path = _cache_path(case, side)
    if path.is_file():
        cached = Choice(**json.loads(path.read_text()))
        return Choice(jit_compile=cached.jit_compile, speedup=cached.speedup, note=f"{cached.note} (cached)")
    log.info("  timing training steps of %s at %d px, batch %d, with and without XLA", case.arch, side, case.batch_size)
    choice = probe(case, side, num_classes)
    if choice.speedup is not None:
        _write(path, choice)
    log.info("  training XLA: %s", choice.note)
    return choice


def probe(case: Case, side: int, num_classes: int) -> Choice:
    """Times ``WARMUP_STEPS`` then ``TIMED_STEPS`` training steps in graph mode and under XLA, alternated."""
    import keras
    import tensorflow as tf

    keras.backend.clear_session()  # the probe's models go before the case's own session starts
    try:
        graph = _step(case, side, num_classes, jit=False)
    except tf.errors.ResourceExhaustedError:
        raise  # the batch doesn't fit at all: the runner retries the case at half of it
    except Exception as error:  # training will meet it too, and its row will say what it is
        return Choice(
            jit_compile=False, speedup=None, note=f"off: the probe failed in graph mode ({one_line(error)[:200]})"
        )
    try:
        xla = _step(case, side, num_classes, jit=True)
    except Exception as error:  # XLA can't compile (or fit) this network here: train without it, and say so
        keras.backend.clear_session()
        return Choice(jit_compile=False, speedup=None, note=f"off: XLA failed in the probe ({one_line(error)[:200]})")
    if xla is None:
        return Choice(
            jit_compile=False, speedup=None, note="off: Keras keeps XLA off for this model (a layer doesn't support it)"
        )
    seconds: dict[str, list[float]] = {"graph": [], "xla": []}
    for _ in range(TIMED_STEPS):
        seconds["graph"].append(graph())
        seconds["xla"].append(xla())
    keras.backend.clear_session()
    speedup = median(seconds["graph"]) / median(seconds["xla"])
    use = speedup >= MIN_SPEEDUP
    return Choice(
        jit_compile=use,
        speedup=speedup,
        note=f"{'on' if use else 'off'}: probe, XLA step {speedup:.2f}x graph mode's speed",
    )


def _step(case: Case, side: int, num_classes: int, jit: bool):
    """A function timing one training step of a fresh model in one mode, warmed up; None if Keras refuses XLA."""
    import keras
    import numpy as np
    import tensorflow as tf

    from suite.train import make_optimizer

    backbone = build_backbone(case.arch, side, depth=case.depth, bn_momentum=case.bn_momentum, handle=case.handle)
    model = build_classifier(backbone, num_classes, dropout=case.dropout)
    model.compile(optimizer=make_optimizer(case, case.learning_rate), loss="categorical_crossentropy", jit_compile=jit)
    if jit and not model.jit_compile:
        return None
    images = tf.random.uniform((case.batch_size, side, side, 3), -1.0, 1.0, seed=0)
    labels = keras.utils.to_categorical(np.arange(case.batch_size) % num_classes, num_classes)

    def step() -> float:  # train_on_batch returns the loss as a Python float: the device is synchronised
        started = time.perf_counter()
        model.train_on_batch(images, labels)
        return time.perf_counter() - started

    for _ in range(WARMUP_STEPS):
        step()
    return step


def _cache_path(case: Case, side: int) -> Path:
    """``<cache>/train_jit/<arch>-<digest>.json``, the digest over everything the answer depends on."""
    identity = [PROBE_VERSION, environment()["fingerprint"], case.arch, builder_hash(case.arch), case.handle]
    identity += [side, case.batch_size, case.depth]
    digest = hashlib.sha256(json.dumps(identity).encode()).hexdigest()[:12]
    return cache_dir() / "train_jit" / f"{case.arch}-{digest}.json"


def _write(path: Path, choice: Choice) -> None:
    """Writes the cached choice atomically (two workers probing the same shape each write a whole file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, suffix=".tmp", delete=False) as handle:
        json.dump(asdict(choice), handle)
    os.replace(handle.name, path)
