"""The case registry: every architecture x regime x dataset, as frozen dataclasses.

A case is everything needed to reproduce one training-and-measurement run, with a
stable lower-case id ``arch.regime.dataset``. The built-in catalogue is
registered on import; ``list_cases("resnet*")`` returns sorted ids by shell glob
(as timm's ``list_models`` does), and a duplicate id is an error, not a warning.
Budgets (epochs, subsets) come from a profile (``suite.profiles``), and any field
can be set per case from TOML (``suite.config``).

TF-Hub architectures (``hub_*``) take only the regimes that keep their module whole
(``regime_applies``): a module is one layer that comes with its weights.
"""

from __future__ import annotations

import dataclasses
import fnmatch
from dataclasses import dataclass, field
from typing import Any

from suite.data import BUILTIN_DATASETS, parse_dataset
from suite.errors import SuiteError
from suite.models import ARCHITECTURES
from suite.regimes import REGIMES

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
    id: str = ""  # defaults to arch.regime.<dataset slug>
    weights: str = "auto"  # "auto", "none", "imagenet", "source:<name>" or a weights-file path
    handle: str = ""  # hub_* architectures: module URL, Kaggle Models handle or SavedModel directory; "" = default
    # Budget (profile).
    epochs: int = 10  # epochs of the last phase (the whole run for scratch and frozen)
    head_epochs: int = 2  # epochs of the head-only phase of finetune and freezeN
    batch_size: int = 64  # images per training step on each replica (global batch = batch_size x replicas)
    train_limit: int = 0  # most training images used; 0 = all
    eval_limit: int = 0  # most validation and test images used each; 0 = all
    image_size: int = 0  # model input side in pixels; 0 = max(dataset side, architecture minimum)
    # Optimisation.
    optimizer: str = "adam"  # one of OPTIMIZERS; "sgd" uses momentum, "nesterov" Nesterov momentum
    learning_rate: float = 1e-3  # peak learning rate at batch_size; x replicas under a strategy (linear scaling)
    finetune_lr_scale: float = 0.1  # last-phase rate of finetune/freezeN = learning_rate x this
    schedule: str = "cosine"  # one of SCHEDULES, over the steps of each phase
    warmup_epochs: float = 0.0  # linear warm-up to the peak rate, in epochs (cosine schedule only)
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
    search_space: str = ""  # JSON object narrowing or widening the default space (suite.tuning.space)
    latency_budget_ms: float = 0.0  # batch-1 latency a trial must meet to be feasible; 0 = accuracy alone
    # Fields set explicitly (TOML, tuner): re-applied after the profile, so they win.
    overrides: tuple[tuple[str, Any], ...] = field(default=(), compare=False, repr=False)

    def __post_init__(self) -> None:
        if not self.id:
            object.__setattr__(self, "id", f"{self.arch}.{self.regime}.{parse_dataset(self.dataset).slug}")

    def to_json(self) -> str:  # TEMPORARY until suite/case.py lands
        fields = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "overrides"}
        return __import__("json").dumps(fields, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Case:  # TEMPORARY
        return cls(**__import__("json").loads(text))

    @property
    def target(self) -> float:
        """The validation accuracy ``time_to_target_s`` measures: ``target_accuracy`` or the dataset's default."""
        return self.target_accuracy or parse_dataset(self.dataset).default_target

    def validate(self) -> Case:
        """Raises ``SuiteError`` on an unknown name or an out-of-range value; returns self."""
        _choose("architecture", self.arch, ARCHITECTURES)
        _choose("regime", self.regime, REGIMES)
        self._validate_hub()
        parse_dataset(self.dataset)
        _choose("optimizer", self.optimizer, OPTIMIZERS)
        _choose("schedule", self.schedule, SCHEDULES)
        _choose("tuner", self.tuner, TUNERS)
        if self.strategy == "multiworker":
            raise SuiteError(f"case {self.id}: {MULTIWORKER_REFUSED}. Received: strategy='multiworker'")
        _choose("strategy", self.strategy, STRATEGIES)
        if self.id != self.id.lower() or not self.id or any(c.isspace() for c in self.id):
            raise SuiteError(f"case id must be lower-case without spaces. Received: id={self.id!r}")
        checks = {
            "epochs": self.epochs >= 1,
            "head_epochs": self.head_epochs >= 0,
            "batch_size": self.batch_size >= 1,
            "train_limit": self.train_limit >= 0,
            "eval_limit": self.eval_limit >= 0,
            "image_size": self.image_size == 0 or self.image_size >= ARCHITECTURES[self.arch].min_size,
            "learning_rate": self.learning_rate > 0,
            "finetune_lr_scale": self.finetune_lr_scale > 0,
            "warmup_epochs": self.warmup_epochs >= 0,
            "momentum": 0 <= self.momentum < 1,
            "weight_decay": self.weight_decay >= 0,
            "l2": self.l2 >= 0,
            "dropout": 0 <= self.dropout < 1,
            "label_smoothing": 0 <= self.label_smoothing < 1,
            "label_noise": 0 <= self.label_noise <= 1,
            "augment": 0 <= self.augment <= 0.5,
            "early_stopping": self.early_stopping >= 0,
            "target_accuracy": 0 <= self.target_accuracy <= 1,
            "bn_momentum": 0 < self.bn_momentum < 1,
            "depth": self.depth >= 0,
            "trials": self.trials >= 1,
            "trial_epochs": self.trial_epochs >= 1,
            "latency_budget_ms": self.latency_budget_ms >= 0,
            "task_cpus": self.task_cpus >= 1,
            "task_gpus": self.task_gpus >= 0,
        }
        for name, ok in checks.items():
            if not ok:
                hint = (
                    f" (the minimum for {self.arch} is {ARCHITECTURES[self.arch].min_size})"
                    if name == "image_size"
                    else ""
                )
                raise SuiteError(
                    f"case {self.id}: {name} is out of range{hint}. Received: {name}={getattr(self, name)!r}"
                )
        if self.search_space:
            from suite.tuning.space import parse_space

            parse_space(self.search_space, where=f"case {self.id}")
        regime = REGIMES[self.regime]
        if not regime.pretrained and self.weights not in ("auto", "none"):
            raise SuiteError(
                f"case {self.id}: regime scratch trains from random initialisation. Received: weights={self.weights!r}"
            )
        if regime.pretrained and self.weights == "none":
            raise SuiteError(
                f"case {self.id}: regime {self.regime} needs pretrained weights (imagenet, source:<name>, a file "
                "or auto); random weights are never presented as transfer. Received: weights='none'"
            )
        return self

    def _validate_hub(self) -> None:
        """A TF-Hub module brings its own weights and is one layer; other architectures take no handle."""
        spec = ARCHITECTURES[self.arch]
        if not spec.hub:
            if self.handle:
                raise SuiteError(
                    f"case {self.id}: only hub_* architectures load a handle; {self.arch} does not. "
                    f"Received: handle={self.handle!r}"
                )
            return
        if not regime_applies(self.arch, self.regime):
            offered = ", ".join(r for r in REGIMES if regime_applies(self.arch, r))
            raise SuiteError(
                f"case {self.id}: {self.arch} is a TF-Hub module, one layer that comes pretrained, so it takes "
                f"regimes {offered} (no scratch, no partial freezing). Received: regime={self.regime!r}"
            )
        if self.weights != "auto":
            raise SuiteError(
                f'case {self.id}: {self.arch} takes its weights from its hub handle; set handle = "..." instead. '
                f"Received: weights={self.weights!r}"
            )


def regime_applies(arch: str, regime: str) -> bool:
    """Whether ``arch`` trains under ``regime``: any, except that a TF-Hub module (one opaque layer that comes
    pretrained) takes only regimes that start pretrained and train all of it or none of it.
    """
    spec, chosen = ARCHITECTURES[arch], REGIMES[regime]
    return not spec.hub or (chosen.pretrained and chosen.freeze_fraction in (0.0, 1.0))


CASE_FIELDS: dict[str, dataclasses.Field] = {f.name: f for f in dataclasses.fields(Case) if f.name != "overrides"}

_REGISTRY: dict[str, Case] = {}


def _choose(kind: str, value: str, valid) -> None:
    if value not in valid:
        raise SuiteError(f"unknown {kind} {value!r}; valid: {', '.join(valid)}")


def register(case: Case) -> Case:
    """Adds a case to the registry; a second case with the same id is an error."""
    case.validate()
    if case.id in _REGISTRY:
        raise SuiteError(f"duplicate case id {case.id!r}: it is already registered; give the new case its own id")
    _REGISTRY[case.id] = case
    return case


def override(case: Case) -> Case | None:
    """Registers ``case`` in place of any case with its id; returns the case it displaced, if any.

    For user cases from TOML, for one command: a TOML case with a built-in id (say
    ``hub_mobilenet_v2.frozen.digits`` with a local ``handle``) runs instead of the built-in one.
    """
    case.validate()
    displaced = _REGISTRY.pop(case.id, None)
    _REGISTRY[case.id] = case
    return displaced


def unregister(case_id: str) -> None:
    """Removes a case (user cases from TOML are registered for one run only)."""
    _REGISTRY.pop(case_id, None)


def list_cases(*patterns: str) -> list[str]:
    """Sorted ids matching any of the shell-style ``patterns`` (all ids when none)."""
    if not patterns:
        return sorted(_REGISTRY)
    return sorted(i for i in _REGISTRY if any(fnmatch.fnmatchcase(i, p.lower()) for p in patterns))


def select_cases(*patterns: str, exclude: tuple[str, ...] = ()) -> list[Case]:
    """The cases matching ``patterns`` but none of ``exclude``; a pattern that matches nothing is an error."""
    for pattern in patterns:
        if not list_cases(pattern):
            raise SuiteError(
                f"no case matches {pattern!r}; ids look like arch.regime.dataset, e.g. "
                f"'resnet_scratch.scratch.digits' or '*.frozen.*' (see `suite list`)"
            )
    return [_REGISTRY[i] for i in list_cases(*patterns) if not any(fnmatch.fnmatchcase(i, p) for p in exclude)]


def get_case(case_id: str) -> Case:
    """The registered case with this id."""
    try:
        return _REGISTRY[case_id]
    except KeyError:
        raise SuiteError(f"unknown case {case_id!r}; see `suite list`") from None


def _register_catalogue() -> None:
    for arch in ARCHITECTURES:
        for regime in REGIMES:
            if regime_applies(arch, regime):
                for dataset in BUILTIN_DATASETS:
                    register(Case(arch, regime, dataset))


_register_catalogue()
