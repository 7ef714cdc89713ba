"""What one trial builds and trains: the case's model, configured by the trial's hyperparameters.

KerasTuner's layering: this HyperModel says *what* to build and how to fit it;
the Oracle (``suite.tuning.search``) says what to try next. ``build`` makes the
backbone with the case's pretrained weights and a new head; ``fit`` trains it
with ``suite.train.train``, the loop every other case uses, then scores it.

The score is validation accuracy, or with a latency budget, validation
accuracy minus 1 for a trial whose batch-1 latency is over the budget: a
feasible trial always beats an infeasible one, and among infeasible ones the
more accurate still wins. (KerasTuner's multi-objective sums its objectives,
which trades accuracy against milliseconds at an arbitrary rate.)
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import keras
import keras_tuner

from suite import train as training
from suite import transfer
from suite.case import Case
from suite.data.pipeline import case_split, input_side, training_split
from suite.measure import timing
from suite.models import build_backbone, build_classifier
from suite.profiles import Profile
from suite.regimes import Regime
from suite.registry import validate
from suite.search_space import Spec, configure, declare

LATENCY_CALLS = 10  # timed batch-1 calls per trial, after one tracing call and two warm-up calls
INFEASIBLE_PENALTY = 1.0  # subtracted from the score of a trial over the latency budget


def batch1_latency_ms(model: keras.Model, side: int, calls: int = LATENCY_CALLS) -> float:
    """Median batch-1 latency of ``model`` in ms, in graph mode (``suite.measure.timing``, never ``predict``)."""

    return timing.batch1_seconds(model, side, calls, warmup=2)[1] * 1e3


def score(val_accuracy: float, latency_ms: float | None, budget_ms: float) -> float:
    """The objective KerasTuner maximises: accuracy, less ``INFEASIBLE_PENALTY`` when over the latency budget."""
    if budget_ms > 0 and latency_ms is not None and latency_ms > budget_ms:
        return val_accuracy - INFEASIBLE_PENALTY
    return val_accuracy


class CaseHyperModel(keras_tuner.HyperModel):
    """The case's classifier, with the searched settings taken from ``hp``.

    Args:
        case: The tuned case, profile applied.
        regime: Its regime (``tuned``); ``freeze_fraction`` may be searched.
        space: The resolved space (``suite.search_space.resolve_space``).
        runner: The ``suite.run.runner.Runner`` whose datasets and profile the trials use.
        weights: The resolved weights (``suite.transfer.resolve_weights``).
        seed: Seeds each trial's initialisation and input order alike.
    """

    def __init__(self, case: Case, regime: Regime, space: dict[str, Spec], runner, weights: str, seed: int):
        super().__init__(name=case.id, tunable=True)
        self.case, self.regime, self.space, self.runner = case, regime, space, runner
        self.weights, self.seed = weights, seed
        self.backbone: keras.Model | None = None  # of the model last built
        self.board_dir: Path | None = None  # the running trial's TensorBoard run (set by the tuner), or none

    @property
    def profile(self) -> Profile:
        return self.runner.profile

    def declare_hyperparameters(self, hp: keras_tuner.HyperParameters) -> None:
        declare(hp, self.space)

    def configured(self, hp: keras_tuner.HyperParameters) -> tuple[Case, Regime]:
        """The case and regime this trial trains (its last phase lasts ``trial_epochs``)."""
        case, regime = configure(self.case, self.regime, self.space, hp.values)
        return validate(dataclasses.replace(case, epochs=case.trial_epochs)), regime

    def _side(self) -> tuple[Any, int]:

        raw = self.runner.dataset(self.case.dataset, self.case.image_size)
        side = input_side(
            self.case.arch,
            raw.side,
            self.case.image_size,
            self.case.handle,
            weights=self.weights,
            transfer_side=self.profile.transfer_side,
            case_id=self.case.id,
            download=True,
        )
        return raw, side

    def build(self, hp: keras_tuner.HyperParameters) -> keras.Model:

        self.declare_hyperparameters(hp)
        case, _ = self.configured(hp)
        raw, side = self._side()
        keras.backend.clear_session()
        keras.utils.set_random_seed(self.seed)
        backbone = build_backbone(
            case.arch, side, depth=case.depth, l2=case.l2, bn_momentum=case.bn_momentum, handle=case.handle
        )
        if self.weights != "none":
            transfer.load_weights(backbone, self.weights, case.arch, case, self.profile.source_for(case.arch))
        keras.utils.set_random_seed(self.seed)
        self.backbone = backbone
        return build_classifier(backbone, raw.num_classes, dropout=case.dropout, l2=case.l2)

    def fit(
        self, hp: keras_tuner.HyperParameters, model: keras.Model, epochs: int | None = None, initial_epoch: int = 0
    ) -> dict[str, float]:
        """Trains ``model`` and returns the trial's metrics (``score`` is the objective).

        Hyperband sets ``epochs`` (the round's total) and ``initial_epoch`` (what
        the warm-started weights already had); the last phase then runs the
        difference, and a warm-started model skips the head phase. With ``board_dir``
        set, the trial's epochs and HParams go to that TensorBoard run.
        """

        case, regime = self.configured(hp)
        if epochs is not None:
            case = dataclasses.replace(case, epochs=max(1, epochs - initial_epoch))
            if initial_epoch:
                case = dataclasses.replace(case, head_epochs=0)
        raw, side = self._side()

        train_ds, train_images, steps_per_epoch = training_split(case, raw, side=side, seed=self.seed)
        val_ds, _ = case_split(case, raw, "val", side=side, seed=self.seed)
        callbacks = []
        if self.board_dir is not None:  # the trial's own run, its configured case's fields as HParams
            callbacks.append(
                training.TensorBoardRun(
                    self.board_dir, training.case_hparams(case, seed=self.seed, trial=self.board_dir.name)
                )
            )
        fit = training.FitInputs(
            train=train_ds, val=val_ds, images=train_images, steps_per_epoch=steps_per_epoch, callbacks=callbacks
        )
        result = training.train(model, self.backbone, regime, case, fit)  # through the module: tests replace it
        val_accuracy = float(model.evaluate(val_ds, verbose=0, return_dict=True)["accuracy"])
        budget = self.case.latency_budget_ms
        latency = batch1_latency_ms(model, side) if budget > 0 else None
        metrics = {
            "score": score(val_accuracy, latency, budget),
            "val_accuracy": val_accuracy,
            "epochs": float(result.epochs),
            "train_seconds": result.seconds,
        }
        if latency is not None:
            metrics["latency_ms"] = latency
        return metrics
