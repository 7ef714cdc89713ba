"""The case registry: every architecture x regime x dataset, and what makes a case valid.

A case (``suite.case.Case``, re-exported here) is everything needed to reproduce
one training-and-measurement run, with a stable lower-case id
``arch.regime.dataset``; ``validate`` checks it against the architectures,
regimes, datasets and search space the suite knows. The built-in catalogue is
registered on import; ``list_cases("resnet*")`` returns sorted ids by shell glob
(as timm's ``list_models`` does), and a duplicate id is an error, not a warning.
Budgets (epochs, subsets) come from a profile (``suite.profiles``), and any field
can be set per case from TOML (``suite.config``).

TF-Hub architectures (``hub_*``) take only the regimes that keep their module whole
(``regime_applies``): a module is one layer that comes with its weights.

User architectures (``suite.models.user``: ``[[arch]]`` tables, ``suite.register_architecture``, entry
points) join at run time through ``add_architecture``, with the same catalogue of cases.
"""

from __future__ import annotations

import difflib
import fnmatch
from collections.abc import Iterable

from suite.case import (
    CASE_FIELDS,
    MULTIWORKER_REFUSED,
    OPTIMIZERS,
    SCHEDULES,
    STRATEGIES,
    TUNERS,
    Case,
)
from suite.data import BUILTIN_DATASETS, parse_dataset
from suite.errors import SuiteError
from suite.models import ARCHITECTURES
from suite.models.spec import ArchSpec
from suite.regimes import REGIMES
from suite.search_space import parse_space

# Re-exported: Case and its vocabularies live in suite.case, the leaf every module may import.
__all__ = [
    "CASE_FIELDS",
    "MULTIWORKER_REFUSED",
    "OPTIMIZERS",
    "SCHEDULES",
    "STRATEGIES",
    "TUNERS",
    "Case",
    "add_architecture",
    "get_case",
    "list_cases",
    "override",
    "regime_applies",
    "register",
    "remove_architecture",
    "select_cases",
    "unregister",
    "validate",
]


def validate(case: Case) -> Case:
    """Raises ``SuiteError`` on an unknown name or an out-of-range value; returns ``case``."""
    known_architecture(case.arch)
    _choose("regime", case.regime, REGIMES)
    _validate_hub(case)
    parse_dataset(case.dataset)
    _choose("optimizer", case.optimizer, OPTIMIZERS)
    _choose("schedule", case.schedule, SCHEDULES)
    _choose("tuner", case.tuner, TUNERS)
    if case.strategy == "multiworker":
        raise SuiteError(f"case {case.id}: {MULTIWORKER_REFUSED}. Received: strategy='multiworker'")
    _choose("strategy", case.strategy, STRATEGIES)
    if case.id != case.id.lower() or not case.id or any(c.isspace() for c in case.id):
        raise SuiteError(f"case id must be lower-case without spaces. Received: id={case.id!r}")
    _validate_ranges(case)
    if case.search_space:
        parse_space(case.search_space, where=f"case {case.id}")
    _validate_weights(case)
    return case


def _validate_ranges(case: Case) -> None:
    """Every numeric field within its range; the first one outside is named with its value."""
    min_size = ARCHITECTURES[case.arch].min_size
    checks = {
        "epochs": case.epochs >= 1,
        "head_epochs": case.head_epochs >= 0,
        "batch_size": case.batch_size >= 1,
        "train_limit": case.train_limit >= 0,
        "train_per_class": case.train_per_class >= 0,
        "eval_limit": case.eval_limit >= 0,
        "image_size": case.image_size == 0 or case.image_size >= min_size,
        "learning_rate": case.learning_rate > 0,
        "finetune_lr_scale": case.finetune_lr_scale > 0,
        "warmup_epochs": case.warmup_epochs >= 0,
        "lr_grid": 0 <= case.lr_grid <= 7,
        "momentum": 0 <= case.momentum < 1,
        "weight_decay": case.weight_decay >= 0,
        "l2": case.l2 >= 0,
        "dropout": 0 <= case.dropout < 1,
        "label_smoothing": 0 <= case.label_smoothing < 1,
        "label_noise": 0 <= case.label_noise <= 1,
        "augment": 0 <= case.augment <= 0.5,
        "early_stopping": case.early_stopping >= 0,
        "target_accuracy": 0 <= case.target_accuracy <= 1,
        "bn_momentum": 0 < case.bn_momentum < 1,
        "depth": case.depth >= 0,
        "trials": case.trials >= 1,
        "trial_epochs": case.trial_epochs >= 1,
        "latency_budget_ms": case.latency_budget_ms >= 0,
        "task_cpus": case.task_cpus >= 1,
        "task_gpus": case.task_gpus >= 0,
    }
    hints = {
        "image_size": f" (the minimum for {case.arch} is {min_size})",
        "train_per_class": " (training images per class, at most the smallest class's count; 0 = all)",
        "lr_grid": " (learning rates tried, 0 to 7; 0 = the case rate alone)",
    }
    for name, ok in checks.items():
        if not ok:
            hint = hints.get(name, "")
            raise SuiteError(f"case {case.id}: {name} is out of range{hint}. Received: {name}={getattr(case, name)!r}")


def _validate_weights(case: Case) -> None:
    """Scratch starts from random weights; every other regime starts pretrained, never from random weights."""
    regime = REGIMES[case.regime]
    if not regime.pretrained and case.weights not in ("auto", "none"):
        raise SuiteError(
            f"case {case.id}: regime scratch trains from random initialisation. Received: weights={case.weights!r}"
        )
    if regime.pretrained and case.weights == "none":
        raise SuiteError(
            f"case {case.id}: regime {case.regime} needs pretrained weights (imagenet, source:<name>, a file "
            "or auto); random weights are never presented as transfer. Received: weights='none'"
        )


def _validate_hub(case: Case) -> None:
    """A TF-Hub module brings its own weights and is one layer; other architectures take no handle."""
    spec = ARCHITECTURES[case.arch]
    if not spec.hub:
        if case.handle:
            raise SuiteError(
                f"case {case.id}: only hub_* architectures load a handle; {case.arch} does not. "
                f"Received: handle={case.handle!r}"
            )
        return
    if not regime_applies(case.arch, case.regime):
        offered = ", ".join(r for r in REGIMES if regime_applies(case.arch, r))
        raise SuiteError(
            f"case {case.id}: {case.arch} is a TF-Hub module, one layer that comes pretrained, so it takes "
            f"regimes {offered} (no scratch, no partial freezing). Received: regime={case.regime!r}"
        )
    if case.weights != "auto":
        raise SuiteError(
            f'case {case.id}: {case.arch} takes its weights from its hub handle; set handle = "..." instead. '
            f"Received: weights={case.weights!r}"
        )


def regime_applies(arch: str, regime: str) -> bool:
    """Whether ``arch`` trains under ``regime``: any, except that a TF-Hub module (one opaque layer that comes
    pretrained) takes only regimes that start pretrained and train all of it or none of it.
    """
    spec, chosen = ARCHITECTURES[arch], REGIMES[regime]
    return not spec.hub or (chosen.pretrained and chosen.freeze_fraction in (0.0, 1.0))


_REGISTRY: dict[str, Case] = {}


def known_architecture(arch: str) -> None:
    """Raises ``SuiteError`` naming the closest architectures (of 44 and more) unless ``arch`` is one."""
    if arch not in ARCHITECTURES:
        closest = difflib.get_close_matches(arch, ARCHITECTURES, n=4, cutoff=0.5)
        hint = f"closest: {', '.join(closest)}" if closest else f"{len(ARCHITECTURES)} to choose from"
        raise SuiteError(f"unknown architecture {arch!r}; {hint} (see `suite archs`)")


def _choose(kind: str, value: str, valid: Iterable[str]) -> None:
    """Raises ``SuiteError`` naming the valid choices unless ``value`` is one of them."""
    if value not in valid:
        raise SuiteError(f"unknown {kind} {value!r}; valid: {', '.join(valid)}")


def register(case: Case) -> Case:
    """Adds a case to the registry; a second case with the same id is an error."""
    validate(case)
    if case.id in _REGISTRY:
        raise SuiteError(f"duplicate case id {case.id!r}: it is already registered; give the new case its own id")
    _REGISTRY[case.id] = case
    return case


def override(case: Case) -> Case | None:
    """Registers ``case`` in place of any case with its id; returns the case it displaced, if any.

    For user cases from TOML, for one command: a TOML case with a built-in id (say
    ``hub_mobilenet_v2.frozen.digits`` with a local ``handle``) runs instead of the built-in one.
    """
    validate(case)
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


def _register_catalogue(archs: Iterable[str]) -> None:
    """Each architecture under every regime it takes, on every built-in dataset (those not registered yet)."""
    for arch in archs:
        for regime in REGIMES:
            if regime_applies(arch, regime):
                for dataset in BUILTIN_DATASETS:
                    case = Case(arch, regime, dataset)
                    if case.id not in _REGISTRY:
                        register(case)


def add_architecture(spec: ArchSpec) -> ArchSpec:
    """Adds a user architecture (``suite.models.user``) and its catalogue cases, so patterns and runs see it.

    Registering the same name and builder again replaces the spec (a TOML file loaded twice, a builder
    module imported again, a worker process told of it); a built-in name, or a name already taken by another
    builder, is an error.
    """
    if spec.source != "user":
        raise ValueError(f"add_architecture takes user architectures (source='user'). Received: source={spec.source!r}")
    existing = ARCHITECTURES.get(spec.name)
    if existing is not None and existing.source != "user":
        raise SuiteError(f"architecture {spec.name!r} is a built-in one ({existing.summary}); give yours another name")
    if existing is not None and existing.builder != spec.builder:
        raise SuiteError(
            f"architecture {spec.name!r} is already registered, built by {existing.builder}; give yours another "
            f"name. Received: builder={spec.builder!r}"
        )
    ARCHITECTURES[spec.name] = spec
    _register_catalogue([spec.name])
    return spec


def remove_architecture(name: str) -> None:
    """Removes a user architecture and its registered cases (tests; a built-in one stays)."""
    if name in ARCHITECTURES and ARCHITECTURES[name].source == "user":
        del ARCHITECTURES[name]
        for case_id in [i for i, case in _REGISTRY.items() if case.arch == name]:
            del _REGISTRY[case_id]


_register_catalogue(list(ARCHITECTURES))
