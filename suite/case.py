"""A benchmark case: one architecture x regime x dataset, as a frozen, typed dataclass.

This module is the suite's leaf: it imports the standard library only, so every
other module can import it. It holds ``Case``, the vocabularies of its name
fields, their types (``FIELD_TYPES``) and its JSON form. What needs the rest of
the suite (the architecture and regime tables, dataset parsing, the search
space) lives in ``suite.registry``: ``validate``, ``regime_applies`` and the
catalogue.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

OPTIMIZERS = ("sgd", "nesterov", "adam", "adamw", "rmsprop", "nadam")
TUNERS = ("random", "hyperband", "bayesian")
SCHEDULES = ("constant", "cosine", "step")
STRATEGIES = ("none", "mirrored")
# Keras 3's fit fails under tf.distribute.MultiWorkerMirroredStrategy (keras-team/keras#20585): refused, not shipped.
MULTIWORKER_REFUSED = (
    "strategy 'multiworker' is not supported: Keras 3's fit fails under MultiWorkerMirroredStrategy "
    '(keras-team/keras#20585); use strategy = "mirrored" for the GPUs of one machine and --executor ray '
    "to spread cases over machines"
)
# Validation accuracy time_to_target_s waits for, by dataset name: airbench's 94% on CIFAR-10; 90% elsewhere.
DEFAULT_TARGETS = {"digits": 0.95, "cifar10": 0.94}
OTHER_TARGET = 0.90


def dataset_slug(name: str) -> str:
    """The lower-case form of a dataset name used in case ids: ``tfds:MNIST`` -> ``tfds_mnist``.

    A ``folder:<path>`` set is named by its folder: ``folder:~/My Flowers`` -> ``folder_my_flowers``.
    """
    prefix = "folder:"
    if name.startswith(prefix) and len(name) > len(prefix):
        name = "folder_" + Path(name[len(prefix) :]).expanduser().resolve().name
    return re.sub(r"[^a-z0-9_]+", "_", name.lower()).strip("_")


def dataset_target(dataset: str) -> float:
    """The validation accuracy a case on ``dataset`` is timed to when its ``target_accuracy`` is 0."""
    return DEFAULT_TARGETS.get(dataset, OTHER_TARGET)


FLOAT32_SLACK = 1e-6  # above float32 rounding near 1 (6e-8), below one image in a million


def reaches(accuracy: float | pd.Series, target: float) -> bool | pd.Series:
    """Whether an accuracy (a float or a pandas column) reaches ``target``, within float32 rounding: Keras keeps
    accuracy as a float32 mean, so 468 of 520 right (exactly 90%) arrives as 0.89999998."""
    return accuracy >= target - FLOAT32_SLACK


@dataclass(frozen=True)
class Case:
    """One benchmark case. Fields marked "profile" are usually set by the profile.

    The regime's subject (what is frozen, what is pretrained) is fixed by
    ``regime``; every other training choice is a field here, so that a tuner or a
    TOML file can change it without touching code.
    """

    arch: str  # a key of suite.models.ARCHITECTURES
    regime: str  # a key of suite.regimes.REGIMES
    dataset: str  # "digits", "cifar10", "tfds:<name>" or "folder:<path>"
    _: dataclasses.KW_ONLY  # the three above name the case (its id's parts, in order); every other field by keyword
    id: str = ""  # defaults to arch.regime.<dataset slug>
    weights: str = "auto"  # "auto", "none", "imagenet", "source:<name>" or a weights-file path
    handle: str = ""  # hub_* architectures: module URL, Kaggle Models handle or SavedModel directory; "" = default
    # Budget (profile).
    epochs: int = 10  # epochs of the last phase (the whole run for scratch and frozen)
    head_epochs: int = 2  # epochs of the head-only phase of finetune and freezeN
    batch_size: int = 64  # images per training step on each replica (global batch = batch_size x replicas)
    train_limit: int = 0  # most training images used; 0 = all
    train_per_class: int = 0  # training images per class, drawn once per seed (suite.data.pipeline); 0 = all
    eval_limit: int = 0  # most validation and test images used each; 0 = all
    image_size: int = 0  # model input side in pixels; 0 = max(dataset side, architecture minimum)
    # Optimisation.
    optimizer: str = "adam"  # one of OPTIMIZERS; "sgd" uses momentum, "nesterov" Nesterov momentum
    learning_rate: float = 1e-3  # peak learning rate at batch_size; x replicas under a strategy (linear scaling)
    finetune_lr_scale: float = 0.1  # last-phase rate of finetune/freezeN = learning_rate x this
    schedule: str = "cosine"  # one of SCHEDULES, over the steps of each phase
    warmup_epochs: float = 0.0  # linear warm-up to the peak rate, in epochs (cosine schedule only)
    lr_grid: int = 0  # rates tried around learning_rate, chosen on validation (suite.run.rate_grid); 0 = none
    momentum: float = 0.9  # for sgd, nesterov and rmsprop
    # Regularisation.
    weight_decay: float = 0.0  # decoupled weight decay (Keras optimizer convention)
    l2: float = 0.0  # kernel L2 penalty on the head and on the suite's own backbones
    dropout: float = 0.0  # dropout rate before the classifier
    label_smoothing: float = 0.0  # cross-entropy label smoothing, 0..1
    label_noise: float = 0.0  # fraction of training labels replaced by random classes (1 = no signal: a broken run)
    augment: float = 0.1  # random translation, as a fraction of the image side; 0 = no augmentation
    early_stopping: int = 0  # patience in epochs on validation loss; 0 = off (best weights are restored either way)
    target_accuracy: float = 0.0  # validation accuracy that time_to_target_s waits for; 0 = the dataset's default
    # Architecture knobs.
    bn_momentum: float = 0.9  # batch-norm moving-average momentum; 0.99 lags on short budgets
    depth: int = 0  # simple_cnn blocks or resnet_scratch layers (6n + 2); 0 = family default
    # Devices.
    strategy: str = "none"  # one of STRATEGIES: "none" (one device) or "mirrored" (every visible GPU, suite.distribute)
    task_cpus: int = 1  # CPU cores a Ray task reserves for the case (--executor ray)
    task_gpus: int = 0  # GPUs a Ray task reserves; 0 = one on --device gpu, none on cpu (mirrored: how many to mirror)
    # Search (regime "tuned" only; suite.tuning): budget from the profile, space from the case.
    tuner: str = "random"  # one of TUNERS: KerasTuner RandomSearch, Hyperband or BayesianOptimization
    trials: int = 10  # most trials of the search (Hyperband may stop sooner)
    trial_epochs: int = 2  # epochs of each trial's last phase (Hyperband's max_epochs)
    search_space: str = ""  # JSON object narrowing or widening the default space (suite.search_space)
    latency_budget_ms: float = 0.0  # batch-1 latency a trial must meet to be feasible; 0 = accuracy alone
    # Fields set explicitly (TOML, tuner): re-applied after the profile, so they win.
    overrides: tuple[tuple[str, Any], ...] = field(default=(), compare=False, repr=False)

    def __post_init__(self) -> None:
        if not self.id:
            base = f"{self.arch}.{self.regime}.{dataset_slug(self.dataset)}"
            object.__setattr__(self, "id", sized_id(base, self.train_per_class))

    def whole_train_images(self, split_images: int) -> int:
        """Training images without ``train_per_class``: the split's ``split_images``, at most ``train_limit``. A
        cut repeats for the steps these take (``suite.data.pipeline.training_split``), so work is counted on them."""
        return min(self.train_limit or split_images, split_images)

    @property
    def target(self) -> float:
        """The validation accuracy ``time_to_target_s`` measures: ``target_accuracy`` or the dataset's default."""
        return self.target_accuracy or dataset_target(self.dataset)

    def to_json(self) -> str:
        """Every field but ``overrides`` as sorted JSON: what a row was produced from, and its identity.

        Result rows hash this text (``case_key``), so its bytes must not change for an unchanged case: fields
        added later (``OMITTED_AT_DEFAULT``) appear only when set, so older cases keep their keys.
        """
        fields = {name: getattr(self, name) for name in CASE_FIELDS}
        for name, default in OMITTED_AT_DEFAULT.items():
            if fields[name] == default:
                del fields[name]
        return json.dumps(fields, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Case:
        """The case ``to_json`` wrote (with no overrides); ``TypeError`` on a key that is not a field."""
        return cls(**json.loads(text))


GRID_FACTOR = 3.0  # neighbouring rates of an lr_grid differ by this factor (1/3, 1, 3 times the centre for 3)
RUNG_SHARE = 1 / 3  # of the case's last-phase epochs that each grid rate trains (at least one)


def grid_rates(case: Case) -> tuple[float, ...]:
    """The ``lr_grid`` rates around ``case.learning_rate``, smallest first (the centre alone for 0 or 1)."""
    count = max(case.lr_grid, 1)
    return tuple(case.learning_rate * GRID_FACTOR ** (i - (count - 1) / 2) for i in range(count))


def grid_rung(case: Case, rate: float) -> Case:
    """``case`` as one grid rate trains it (``suite.run.rate_grid``): a share of its epochs, at ``rate``, without
    early stopping; its head epochs whole."""
    epochs = max(1, math.ceil(case.epochs * RUNG_SHARE))
    return dataclasses.replace(case, learning_rate=rate, epochs=epochs, early_stopping=0)


def grid_rungs(case: Case) -> tuple[Case, ...]:
    """Every rung the case's rate grid trains before its full run; none without a grid (``lr_grid`` 0 or 1)."""
    return tuple(grid_rung(case, rate) for rate in grid_rates(case)) if case.lr_grid > 1 else ()


SIZE_MARK = "@"  # joins a case id and its training images per class: mobilenet_v2.frozen.digits@25


def sized_id(case_id: str, train_per_class: int) -> str:
    """``case_id`` with its ``@N`` mark set to ``train_per_class`` (removed for 0, which means all images)."""
    base = re.sub(rf"{SIZE_MARK}\d+$", "", case_id)
    return f"{base}{SIZE_MARK}{train_per_class}" if train_per_class else base


def split_size(case_id: str) -> tuple[str, int]:
    """``("arch.regime.dataset", N)`` of ``arch.regime.dataset@N``; ``(case_id, 0)`` without a mark."""
    found = re.fullmatch(rf"(.*){SIZE_MARK}(\d+)", case_id)
    return (found.group(1), int(found.group(2))) if found else (case_id, 0)


def sized(case: Case, train_per_class: int) -> Case:
    """``case`` trained on ``train_per_class`` images per class (0 = all), its id marked ``@N`` to match."""
    return dataclasses.replace(case, train_per_class=train_per_class, id=sized_id(case.id, train_per_class))


# Fields added after result rows were first keyed: left out of ``to_json`` at these values (the old behaviour).
OMITTED_AT_DEFAULT: dict[str, Any] = {"train_per_class": 0, "lr_grid": 0}
# Every field but the bookkeeping ``overrides``, in declaration order.
CASE_FIELDS: dict[str, dataclasses.Field] = {f.name: f for f in dataclasses.fields(Case) if f.name != "overrides"}
# Their types as type objects (int, float, str), not the annotation strings ``Field.type`` holds here.
FIELD_TYPES: dict[str, type] = {name: hint for name, hint in typing.get_type_hints(Case).items() if name in CASE_FIELDS}
