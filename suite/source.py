"""Pretraining a backbone on the suite's own source set (``suite.data.glyphs``), once, cached by its recipe.

Training stops at the first check whose accuracy on a held-out *stopping* set
reaches the budget's target (``SourceBudget``), and the accuracy recorded as
``source_accuracy`` is measured afterwards on a second held-out set, so that
neither the training images nor the stopping decision flatter it. The three
sets are rendered from different seeds.

The cache file's name carries a digest of everything that shapes the weights
(``recipe``): the renderer's version, faces and classes, the budget, the
architecture and its side, depth and batch-norm momentum, a user builder's
hash. A change to any of them is a new file, never a stale one reused.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import math
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import keras
import tensorflow as tf

from suite import progress
from suite.case import Case, reaches
from suite.data import glyphs
from suite.data.pipeline import Training, make_input
from suite.environment import cache_dir
from suite.models import build_backbone, build_classifier, builder_hash
from suite.profiles import SourceBudget

log = logging.getLogger(__name__)

SOURCE_RECIPE = 3  # bump when pretraining changes in a way the digest can't see (this module's code)
TRAIN_SEED, STOP_SEED, REPORT_SEED = 0, 1, 2  # rendering seeds: training set, stopping set, reported set


class SourceUnavailable(RuntimeError):
    """The source set named can't be made here."""


def recipe(arch: str, side: int, case: Case, budget: SourceBudget) -> str:
    """Everything that shapes the source weights of one backbone, as one string."""
    renderer = f"glyphs v{glyphs.RENDERER_VERSION}|{','.join(glyphs.font_names())}|{''.join(glyphs.CLASSES)}"
    parts = [f"recipe {SOURCE_RECIPE}", renderer, arch, f"{side}px", case.depth, case.bn_momentum, repr(budget)]
    return "|".join(str(part) for part in parts + [builder_hash(arch) or ""])


def source_dir() -> Path:
    """Where source weights and their records are cached (``$SUITE_CACHE_DIR/source``)."""
    return cache_dir() / "source"


def source_weights_path(arch: str, side: int, case: Case, budget: SourceBudget) -> Path:
    """The cache file for one backbone's source weights, named by a digest of its ``recipe``."""
    digest = hashlib.sha256(recipe(arch, side, case, budget).encode()).hexdigest()[:12]
    return source_dir() / f"{arch}-{budget.dataset}-{side}px-{digest}.weights.h5"


def source_record(weights_path: Path) -> Path:
    """The JSON beside a cached weights file: the accuracies it reached and what it cost."""
    return weights_path.with_name(weights_path.name.replace(".weights.h5", ".json"))


def read_record(arch: str, side: int, case: Case, budget: SourceBudget) -> dict[str, Any] | None:
    """The record of the cached weights, if they exist."""
    record = source_record(source_weights_path(arch, side, case, budget))
    return json.loads(record.read_text()) if record.is_file() else None


def source_accuracy(arch: str, side: int, case: Case, budget: SourceBudget) -> float | None:
    """The held-out source accuracy of the cached weights (images pretraining never saw), if they exist."""
    record = read_record(arch, side, case, budget)
    return None if record is None else record["source_accuracy"]


class ReportChecks(keras.callbacks.Callback):
    """Tells the run's progress line how pretraining goes, one event per check (a run is otherwise silent for the
    minutes a source takes)."""

    def __init__(self, arch: str, checks: int):
        super().__init__()
        self.arch, self.checks = arch, checks

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        accuracy = (logs or {}).get("val_accuracy", 0.0)
        message = f"{self.arch} check {epoch + 1}/{self.checks}, stopping-set accuracy {accuracy:.3f}"
        progress.emit(stage="source", message=message, end_of_epoch=True)


class ReachTarget(keras.callbacks.Callback):
    """Stops training at the end of the first check whose held-out (stopping set) accuracy reaches ``target``."""

    def __init__(self, target: float):
        super().__init__()
        self.target = target

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if self.target > 0 and reaches((logs or {}).get("val_accuracy", 0.0), self.target):
            self.model.stop_training = True


def source_sets(arch: str, side: int, budget: SourceBudget) -> tuple[Any, Any, Any]:
    """The training set (repeated, reshuffled each pass), the stopping set and the reported set, as tf.data."""

    def pipeline(per_class: int, seed: int, training: bool) -> tf.data.Dataset:
        images, labels = glyphs.make_glyphs(per_class, side, seed=seed)
        raw = tf.data.Dataset.from_tensor_slices((images, labels))
        feed = Training(seed=seed) if training else None
        return make_input(
            raw, arch=arch, side=side, num_classes=len(glyphs.CLASSES), batch_size=budget.batch_size, training=feed
        )

    train = pipeline(budget.images_per_class, TRAIN_SEED, True).repeat()
    return (
        train,
        pipeline(budget.heldout_per_class, STOP_SEED, False),
        pipeline(budget.heldout_per_class, REPORT_SEED, False),
    )


def compile_for_source(model: keras.Model, budget: SourceBudget) -> None:
    """Adam on a cosine schedule over the whole budget, with label smoothing, as the budget says."""
    steps = math.ceil(budget.max_images / budget.batch_size)
    schedule = keras.optimizers.schedules.CosineDecay(budget.learning_rate, steps)
    optimizer = keras.optimizers.Adam(schedule)
    optimizer.build(model.trainable_variables)  # slot variables before fit, not inside its first trace
    loss = keras.losses.CategoricalCrossentropy(label_smoothing=budget.label_smoothing)
    model.compile(optimizer=optimizer, loss=loss, metrics=["accuracy"], jit_compile=budget.jit_compile)


def pretrain_on_source(
    arch: str, side: int, case: Case, budget: SourceBudget, callbacks: tuple[keras.callbacks.Callback, ...] = ()
) -> Path:
    """Pretrains ``arch`` on the made source set, once, and caches the backbone weights and their record.

    ``callbacks`` see every check (a Keras epoch of ``budget.check_images`` images): a progress bar.
    The file is written to a temporary name and renamed, so a crash never leaves a
    half-written cache entry that a later run would trust.
    """
    path = source_weights_path(arch, side, case, budget)
    if path.is_file():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.with_suffix(".lock").open("a") as lock:  # two jobs side by side that need one source: one pretrains
        fcntl.flock(lock, fcntl.LOCK_EX)
        if path.is_file():  # the other job made it while this one waited
            return path
        return _pretrain(path, arch, side, case, budget, callbacks)


def _pretrain(
    path: Path, arch: str, side: int, case: Case, budget: SourceBudget, callbacks: tuple[keras.callbacks.Callback, ...]
) -> Path:
    """``pretrain_on_source``'s work, under its lock: trains, evaluates on the reported set, saves."""
    if budget.dataset != "glyphs":
        raise SourceUnavailable(f"unknown source dataset {budget.dataset!r}; the suite makes 'glyphs'")
    started = time.perf_counter()
    log.info(
        "  pretraining %s on %s at %dpx (up to %d images seen), cached for later runs",
        arch,
        budget.dataset,
        side,
        budget.max_images,
    )
    keras.utils.set_random_seed(0)
    train, stop, report = source_sets(arch, side, budget)
    backbone = build_backbone(arch, side, depth=case.depth, bn_momentum=case.bn_momentum)
    model = build_classifier(backbone, len(glyphs.CLASSES))
    compile_for_source(model, budget)
    steps = max(1, budget.check_images // budget.batch_size)
    checks = max(1, math.ceil(budget.max_images / (steps * budget.batch_size)))
    history = model.fit(
        train,
        validation_data=stop,
        epochs=checks,
        steps_per_epoch=steps,
        callbacks=[ReachTarget(budget.target_accuracy), ReportChecks(arch, checks), *callbacks],
        verbose=0,
    ).history
    trained_s = time.perf_counter() - started
    accuracy = float(model.evaluate(report, verbose=0, return_dict=True)["accuracy"])
    record = {
        "source_accuracy": accuracy,  # on REPORT_SEED's images: neither trained on nor used to stop
        "stop_accuracy": float(history["val_accuracy"][-1]),  # on STOP_SEED's images, which decided when to stop
        "train_accuracy": float(history["accuracy"][-1]),  # over the last check's training batches
        "images_seen": len(history["accuracy"]) * steps * budget.batch_size,
        "train_seconds": round(trained_s, 2),
        "seconds": round(time.perf_counter() - started, 2),  # rendering, training, evaluating, saving
        "curve": [round(float(value), 4) for value in history["val_accuracy"]],  # stopping accuracy per check
        "recipe": recipe(arch, side, case, budget),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    source_record(path).write_text(json.dumps(record, indent=1))  # first: the weights file marks the entry done
    save_atomically(backbone, path)
    log.info("  source accuracy %.3f (held out) after %.0f s", accuracy, record["seconds"])
    return path


def save_atomically(backbone: keras.Model, path: Path) -> None:
    """Saves the backbone's weights to ``path`` through a temporary file in the same folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".weights.h5", delete=False) as handle:
        temporary = Path(handle.name)
    try:
        backbone.save_weights(temporary)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
