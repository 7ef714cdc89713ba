"""The training loop every regime shares: optimiser, schedule, freezing, callbacks.

A regime (``suite.regimes``) says what is pretrained and what is frozen, and
``Regime.phases`` turns it into one or two ``model.fit`` phases, which this module runs:

- scratch, frozen: one phase of ``case.epochs``;
- finetune, freezeN: the head alone for ``case.head_epochs`` (backbone frozen), then
  the backbone from layer ``freeze_fraction x depth`` on, for ``case.epochs`` at
  ``learning_rate x finetune_lr_scale``, batch norm in inference mode throughout.

Best validation weights are restored at the end of every phase. ``TensorBoardRun`` logs a case's epochs,
all phases numbered on, and its fields as HParams to ``DIR/tensorboard/<case_id>-s<seed>/``.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import shutil
import time
from collections.abc import Sequence
from dataclasses import astuple, dataclass
from pathlib import Path
from typing import Any

import keras
import pandas as pd

from suite import progress, storage
from suite.case import Case, reaches
from suite.regimes import Regime

log = logging.getLogger(__name__)


def make_schedule(case: Case, peak: float, steps_per_epoch: int, epochs: int):
    """The learning-rate schedule of one phase: ``epochs`` x ``steps_per_epoch`` optimizer steps.

    ``cosine`` decays to zero after ``case.warmup_epochs`` of linear warm-up;
    ``step`` multiplies by 0.1 at 50% and 75% of the phase; ``constant`` holds ``peak``.
    """
    steps = max(1, steps_per_epoch * epochs)
    warmup = min(int(round(case.warmup_epochs * steps_per_epoch)), steps - 1)
    if case.schedule == "cosine":
        if warmup:
            return keras.optimizers.schedules.CosineDecay(0.0, steps - warmup, warmup_target=peak, warmup_steps=warmup)
        return keras.optimizers.schedules.CosineDecay(peak, steps)
    if case.schedule == "step":
        bounds = [max(1, steps // 2), max(2, (3 * steps) // 4)]
        return keras.optimizers.schedules.PiecewiseConstantDecay(bounds, [peak, peak * 0.1, peak * 0.01])
    return peak


def step_images(step: int, images: int, batch_size: int) -> int:
    """Images in step ``step`` (0-based, counted across passes) over a set of ``images`` batched by ``batch_size``:
    a full batch, or the shorter last one of each pass."""
    per_pass = max(1, math.ceil(images / batch_size))
    return images - (per_pass - 1) * batch_size if step % per_pass == per_pass - 1 else batch_size


def epoch_images(images: int, batch_size: int, steps: int, epoch: int = 0) -> int:
    """Images epoch ``epoch`` (0-based) of ``steps`` steps sees over a set of ``images``, repeated where ``steps``
    asks more: Keras keeps one iterator over a phase's epochs, so a repeated set's passes run across them."""
    return sum(step_images(epoch * steps + step, images, batch_size) for step in range(steps))


def make_optimizer(case: Case, learning_rate) -> keras.optimizers.Optimizer:
    """The case's optimiser with decoupled weight decay where set."""
    decay = case.weight_decay or None
    if case.optimizer in ("sgd", "nesterov"):
        return keras.optimizers.SGD(
            learning_rate, momentum=case.momentum, nesterov=case.optimizer == "nesterov", weight_decay=decay
        )
    if case.optimizer == "adam":
        return keras.optimizers.Adam(learning_rate, weight_decay=decay)
    if case.optimizer == "adamw":
        return keras.optimizers.AdamW(learning_rate, weight_decay=case.weight_decay or 0.004)
    if case.optimizer == "nadam":
        return keras.optimizers.Nadam(learning_rate, weight_decay=decay)
    return keras.optimizers.RMSprop(learning_rate, momentum=case.momentum, weight_decay=decay)


def freeze(backbone: keras.Model, fraction: float, *, batch_norm_frozen: bool = False) -> int:
    """Freezes the first ``fraction`` of the backbone's weight layers; returns how many are frozen.

    With ``batch_norm_frozen`` every batch-norm layer is frozen too, which in Keras 3
    also runs it in inference mode: fine-tuning keeps the pretrained statistics.
    """
    layers = [layer for layer in backbone.layers if layer.weights]
    frozen = int(round(fraction * len(layers)))
    backbone.trainable = True
    for index, layer in enumerate(layers):
        layer.trainable = index >= frozen
        if batch_norm_frozen and isinstance(layer, keras.layers.BatchNormalization):
            layer.trainable = False
    if frozen == len(layers):
        backbone.trainable = False
    return frozen


class Diverged(RuntimeError):
    """The training loss became NaN or infinite: the case stops as ``failed`` with ``Diverged: ...``."""


@dataclass(frozen=True, kw_only=True)
class EpochSize:
    """What an epoch trains on: ``images`` (a set's, which ``steps`` steps of ``batch_size`` may repeat: each epoch
    then counts its own, ``epoch_images``), or with ``batch_size`` 0 the images of every epoch."""

    images: int
    steps: int = 0  # optimizer steps an epoch takes; 0 = not known (progress shows "?")
    batch_size: int = 0

    def images_in(self, epoch: int) -> int:
        """Images epoch ``epoch`` (0-based) trained on."""
        if not self.batch_size:
            return self.images
        return epoch_images(self.images, self.batch_size, self.steps, epoch)


class EpochStats(keras.callbacks.Callback):
    """Records per-epoch seconds, images/s, learning rate and wall time since ``clock``; times every step.

    Step times (``steps``: epoch, step, seconds) let ``steady_images_per_s``
    leave out the steps that trace the training function. It also stops a
    diverged run at the first non-finite loss, rather than training on NaNs
    for the rest of the night, and reports progress about once a second.
    """

    def __init__(self, phase: str, size: EpochSize, total_epochs: int, label: str, clock: float):
        """``phase`` of ``total_epochs`` epochs of ``size``, logged as ``label``; wall time counted from ``clock``."""
        super().__init__()
        self.phase, self.size, self.total, self.label, self.clock = phase, size, total_epochs, label, clock
        self.rows: list[dict] = []
        self.steps: list[tuple[int, int, float]] = []
        self.reported = 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch
        self.started = self.last_step_end = time.perf_counter()

    def on_train_batch_begin(self, batch, logs=None):
        self.step_started = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        now = time.perf_counter()
        self.last_step_end = now
        self.steps.append((self.epoch, batch, now - self.step_started))
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            raise Diverged(f"loss became {float(loss)} in {self.phase} epoch {self.epoch + 1}, step {batch + 1}")
        if now - self.reported >= 1.0:
            self.reported = now
            progress.emit(**self._where(), step=batch + 1, steps=self.size.steps or "?")

    def _where(self) -> dict:
        return {"stage": "train", "phase": self.phase, "epoch": self.epoch + 1, "epochs": self.total}

    def on_epoch_end(self, epoch, logs=None):
        seconds = time.perf_counter() - self.started
        training_s = self.last_step_end - self.started  # the epoch's steps; validation runs after them
        row = {"phase": self.phase, "epoch": epoch + 1, **{k: float(v) for k, v in (logs or {}).items()}}
        row.update(
            lr=float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)),
            epoch_seconds=seconds,
            steps=sum(1 for step in self.steps if step[0] == epoch),  # optimizer steps (a repeated cut: more)
            train_s=training_s,
            images_per_s=self.size.images_in(epoch) / training_s,
            elapsed_s=time.perf_counter() - self.clock,
        )
        self.rows.append(row)
        progress.emit(
            **self._where(),
            end_of_epoch=True,
            message=f"loss {row.get('loss', math.nan):.3f} val_acc {row.get('val_accuracy', math.nan):.3f}",
        )
        log.info(
            "  %s %s epoch %d/%d  loss %.3f  acc %.3f  val_acc %.3f  %.1f s  %.0f img/s",
            self.label,
            self.phase,
            epoch + 1,
            self.total,
            row.get("loss", math.nan),
            row.get("accuracy", math.nan),
            row.get("val_accuracy", math.nan),
            seconds,
            row["images_per_s"],
        )


TENSORBOARD = "tensorboard"  # DIR/tensorboard/<case_id>-s<seed>/: one TensorBoard run per case and seed


def tensorboard_dir(results_dir: Path, case_id: str, seed: int) -> Path:
    """``DIR/tensorboard/<case_id>-s<seed>``: the case's TensorBoard run (its search's trials under ``trials/``)."""
    return storage.case_file(results_dir, TENSORBOARD, case_id, seed, "")


def case_hparams(case: Case, **extra: str | int | float | bool) -> dict[str, str | int | float | bool]:
    """The case's scalar fields (plus ``extra``, e.g. the seed) as TensorBoard HParams; tuples and dicts left out."""
    values = {f.name: getattr(case, f.name) for f in dataclasses.fields(case)}
    values.update(extra)
    return {k: v for k, v in values.items() if isinstance(v, (str, int, float, bool))}


class TensorBoardRun(keras.callbacks.TensorBoard):
    """Keras' TensorBoard callback for every phase of one case: epochs numbered on across ``fit`` calls.

    Scalars only (no histograms, graph or profile: the overhead stays small). ``hparams`` are written once,
    at the first ``fit``, with the HParams plugin, so ``tensorboard --logdir DIR/tensorboard`` compares
    cases and seeds. Event files of an earlier attempt in ``log_dir`` (an out-of-memory retry, a rerun) are
    removed first, so that epochs never overlap; subfolders other than ``train``/``validation`` (the
    search's ``trials/``) are kept.
    """

    def __init__(self, log_dir: Path, hparams: dict[str, str | int | float | bool]):
        log_dir = Path(log_dir)
        for stale in ("train", "validation"):
            shutil.rmtree(log_dir / stale, ignore_errors=True)
        for stale in log_dir.glob("events.out.tfevents.*"):
            stale.unlink()
        super().__init__(log_dir=str(log_dir), histogram_freq=0, write_graph=False, profile_batch=0)
        self.hparams, self.epochs_done = hparams, 0

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        if self.epochs_done == 0 and self.hparams:
            import tensorflow as tf
            from tensorboard.plugins.hparams import api as hp

            with tf.summary.create_file_writer(self.log_dir).as_default():
                hp.hparams(self.hparams)
            self.hparams = {}

    def on_epoch_end(self, epoch, logs=None):
        super().on_epoch_end(self.epochs_done, logs)
        self.epochs_done += 1


def steady_steps(
    steps: list[tuple[int, int, float]], images: int, batch_size: int, steps_per_epoch: int = 0
) -> tuple[int, float]:
    """``(images, seconds)`` of one phase's steady steps: epochs after the first, or else the first's steps but
    its first and each pass's last.

    The first step of a phase traces the training function, and a pass's last
    batch retraces it the first time it is shorter; neither is steady state.
    ``steps_per_epoch``: where a repeated set runs past a pass (0: the steps seen).
    """
    per_epoch = steps_per_epoch or max([step for _, step, _ in steps], default=0) + 1
    per_pass = max(1, math.ceil(images / batch_size))

    def at(epoch: int, step: int) -> int:  # the phase's step count: one iterator runs across its epochs
        return epoch * per_epoch + step

    steady = [s for s in steps if s[0] >= 1]
    steady = steady or [s for s in steps if s[1] > 0 and at(*s[:2]) % per_pass != per_pass - 1]
    done = sum(step_images(at(epoch, step), images, batch_size) for epoch, step, _ in steady)
    return done, sum(seconds for _, _, seconds in steady)


@dataclass(kw_only=True)
class TrainResult:
    """What training reports to the row."""

    history: pd.DataFrame  # one row per epoch of every phase
    epochs: int  # epochs run, all phases
    seconds: float  # wall time inside fit, all phases
    images_per_s: float  # steady-state training images / second (tracing steps left out)
    time_to_target_s: float | None  # wall time until validation accuracy first reached the case's target


@dataclass(frozen=True, kw_only=True)
class FitInputs:
    """What every phase's ``fit`` takes besides the case: the data, extra callbacks and XLA.

    ``train``: batched training set of ``images`` images; ``steps_per_epoch``: steps an epoch takes from a repeated
    ``train`` (a ``train_per_class`` cut given the whole split's steps), 0 = one pass. ``callbacks`` join every
    phase's ``fit`` (a ``TensorBoardRun`` numbers epochs on across phases); ``jit_compile`` goes to every phase's
    ``compile`` (``suite.train_jit`` chooses it for a case's run).
    """

    train: Any  # tf.data.Dataset
    val: Any  # tf.data.Dataset
    images: int
    steps_per_epoch: int = 0
    callbacks: Sequence[keras.callbacks.Callback] = ()
    jit_compile: bool | str = "auto"


def train(model: keras.Model, backbone: keras.Model, regime: Regime, case: Case, inputs: FitInputs) -> TrainResult:
    """Trains ``model`` (``backbone`` plus head) under ``regime`` on ``inputs``; restores the best validation
    weights."""
    train_images, steps_per_epoch = inputs.images, inputs.steps_per_epoch
    steps = steps_per_epoch or max(1, math.ceil(train_images / case.batch_size))
    stats, steady, seconds = [], [], 0.0
    clock = time.perf_counter()
    for name, epochs, peak, fraction in (astuple(phase) for phase in regime.phases(case)):
        freeze(backbone, fraction, batch_norm_frozen=regime.pretrained)
        optimizer = make_optimizer(case, make_schedule(case, peak, steps, epochs))
        # Slot variables made before fit, not inside its first trace: halves Adam's tracing time.
        optimizer.build(model.trainable_variables)
        model.compile(
            optimizer=optimizer,
            loss=keras.losses.CategoricalCrossentropy(label_smoothing=case.label_smoothing),
            metrics=["accuracy"],
            jit_compile=inputs.jit_compile,
        )
        size = EpochSize(images=train_images, steps=steps, batch_size=case.batch_size)
        recorder = EpochStats(name, size, epochs, case.id, clock)
        best = keras.callbacks.EarlyStopping(
            monitor="val_loss", mode="min", patience=case.early_stopping or epochs, restore_best_weights=True
        )
        started = time.perf_counter()
        every = [recorder, best, *inputs.callbacks]
        fit = dict(epochs=epochs, steps_per_epoch=steps_per_epoch or None, callbacks=every, shuffle=False, verbose=0)
        model.fit(inputs.train, validation_data=inputs.val, **fit)
        seconds += time.perf_counter() - started
        stats.extend(recorder.rows)
        steady.append(steady_steps(recorder.steps, train_images, case.batch_size, steps))  # each phase traces afresh
    history = pd.DataFrame(stats)
    steady_images, steady_seconds = (sum(column) for column in zip(*steady))
    reached = history[reaches(history["val_accuracy"], case.target)] if "val_accuracy" in history else history.iloc[:0]
    return TrainResult(
        history=history,
        epochs=len(history),
        seconds=seconds,
        images_per_s=steady_images / steady_seconds if steady_seconds else math.nan,
        time_to_target_s=float(reached["elapsed_s"].iloc[0]) if len(reached) else None,
    )
