"""The search space of a tuned case: the default space, the case's own narrowing or widening, and its hash.

A space maps a tunable name (a ``Case`` field, or ``freeze_fraction`` of the
regime) to one of three specs, written as JSON in ``Case.search_space`` or as a
TOML inline table in a cases file::

    {"choices": ["adam", "nesterov"]}        # one of these values
    {"min": 1e-4, "max": 0.1, "log": true}   # a range; log-uniform with "log"; whole numbers for int fields
    0.2  (or {"value": 0.2})                  # fixed: not searched

A name the case sets replaces the default's spec for that name (narrowing or
widening it); a name the default lacks (``momentum``, ``l2``, ...) is added.
The tuner's project folder is named by ``space_hash``, because KerasTuner
cannot reload an oracle whose space has changed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from typing import Any

from suite.case import FIELD_TYPES, OPTIMIZERS, SCHEDULES, Case
from suite.errors import SuiteError
from suite.models import ARCHITECTURES
from suite.regimes import Regime

Spec = dict[str, Any]

# The regime's frozen share of backbone weight layers, searched for pretrained backbones.
REGIME_FIELDS = ("freeze_fraction",)
TUNABLE = (
    "optimizer",
    "learning_rate",
    "schedule",
    "warmup_epochs",
    "finetune_lr_scale",
    "momentum",
    "weight_decay",
    "l2",
    "dropout",
    "label_smoothing",
    "augment",
    "batch_size",
    "head_epochs",
    "bn_momentum",
    *REGIME_FIELDS,
)

DEFAULT_SPACE: dict[str, Spec] = {
    "optimizer": {"choices": list(OPTIMIZERS)},  # SGD momentum, SGD Nesterov, Adam, AdamW, RMSprop, Nadam
    "learning_rate": {"min": 1e-4, "max": 1e-1, "log": True},  # peak rate at the case's batch size
    "schedule": {"choices": list(SCHEDULES)},
    "weight_decay": {"choices": [0.0, 1e-5, 1e-4, 1e-3]},  # decoupled; 0 included, which a log range can't hold
    "dropout": {"min": 0.0, "max": 0.5},  # before the classifier
    "label_smoothing": {"min": 0.0, "max": 0.2},
    "augment": {"min": 0.0, "max": 0.2},  # random translation, fraction of the image side
    "freeze_fraction": {"choices": [0.0, 0.25, 0.5, 0.75, 1.0]},  # 1.0 = the frozen regime (head only)
}


def _field_type(name: str) -> type:
    """The type of a tunable name's values: its ``Case`` field's, or float for a regime field."""
    return float if name in REGIME_FIELDS else FIELD_TYPES[name]


def _spec(name: str, raw: Any, where: str) -> Spec:
    """One name's spec in canonical form, or ``SuiteError`` saying what was received."""
    field_type = _field_type(name)
    kind = field_type.__name__
    number = (int,) if field_type is int else (int, float)
    wanted = str if field_type is str else number

    def fail(why: str) -> SuiteError:
        return SuiteError(
            f"{where}: search_space {name} {why}. Received: {name}={raw!r}; write a value, "
            '{"choices": [...]} or {"min": ..., "max": ..., "log": true}'
        )

    if not isinstance(raw, dict):
        raw = {"value": raw}
    keys = set(raw)
    if keys == {"value"}:
        if isinstance(raw["value"], bool) or not isinstance(raw["value"], wanted):
            raise fail(f"must be a {kind}")
        return {"value": raw["value"]}
    if keys == {"choices"}:
        values = raw["choices"]
        if not isinstance(values, list) or not values:
            raise fail("choices must be a non-empty list")
        if any(isinstance(v, bool) or not isinstance(v, wanted) for v in values):
            raise fail(f"choices must all be {kind}s")
        return {"choices": list(dict.fromkeys(values))}
    if keys in ({"min", "max"}, {"min", "max", "log"}):
        if field_type is str:
            raise fail("is a name, so it takes choices, not a range")
        low, high, log = raw["min"], raw["max"], bool(raw.get("log", False))
        if any(isinstance(v, bool) or not isinstance(v, number) for v in (low, high)) or not low < high:
            raise fail(f"needs {kind} min < max")
        if log and low <= 0:
            raise fail("needs min > 0 on a log scale")
        return {"min": low, "max": high, "log": log}
    raise fail("has unknown keys")


def parse_space(text: str, where: str = "search_space") -> dict[str, Spec]:
    """The case's own specs, canonical, from its JSON text; ``SuiteError`` on anything unknown."""
    try:
        data = json.loads(text) if text else {}
    except json.JSONDecodeError as error:
        raise SuiteError(f"{where}: search_space is not a JSON object ({error}). Received: {text!r}") from None
    if not isinstance(data, dict):
        raise SuiteError(f"{where}: search_space must be an object of name: spec. Received: {text!r}")
    unknown = sorted(set(data) - set(TUNABLE))
    if unknown:
        raise SuiteError(f"{where}: search_space can't tune {unknown[0]!r}; tunable: {', '.join(TUNABLE)}")
    return {name: _spec(name, raw, where) for name, raw in data.items()}


def resolve_space(case: Case) -> dict[str, Spec]:
    """The default space with the case's specs laid over it, sorted by name."""
    default = {name: _spec(name, spec, "the default space") for name, spec in DEFAULT_SPACE.items()}
    hub = ARCHITECTURES[case.arch].hub
    if hub:  # a TF-Hub module is one opaque layer: all of it trains, or none of it
        default["freeze_fraction"] = {"choices": [0.0, 1.0]}
    space = {**default, **parse_space(case.search_space, f"case {case.id}")}
    if hub and not set(_values(space["freeze_fraction"])) <= {0.0, 1.0}:
        raise SuiteError(f"case {case.id}: a TF-Hub module can only be frozen whole (1.0) or not at all (0.0)")
    return dict(sorted(space.items()))


def _values(spec: Spec) -> list:
    """The values a spec allows, with a range as its two ends."""
    return spec.get("choices") or ([spec["value"]] if "value" in spec else [spec["min"], spec["max"]])


def space_hash(space: dict[str, Spec], *more: Any) -> str:
    """12 hex digits naming a space (and whatever else makes trials incomparable, in ``more``)."""
    return hashlib.sha256(json.dumps([space, *more], sort_keys=True).encode()).hexdigest()[:12]


def declare(hp, space: dict[str, Spec]) -> None:
    """Declares every searched name of ``space`` on a KerasTuner ``HyperParameters``; fixed ones are left out."""
    for name, spec in space.items():
        if "choices" in spec:
            hp.Choice(name, spec["choices"])
        elif "min" in spec:
            sampling = "log" if spec["log"] else "linear"
            if _field_type(name) is int:
                hp.Int(name, spec["min"], spec["max"], sampling=sampling)
            else:
                hp.Float(name, float(spec["min"]), float(spec["max"]), sampling=sampling)


def configure(case: Case, regime: Regime, space: dict[str, Spec], values: dict[str, Any]) -> tuple[Case, Regime]:
    """The case and regime one trial (or the best) trains: fixed specs, then ``values`` (KerasTuner's), applied.

    ``values`` may hold KerasTuner's own ``tuner/...`` entries (Hyperband); they are ignored here.
    """
    chosen = {name: spec["value"] for name, spec in space.items() if "value" in spec}
    chosen.update({name: value for name, value in values.items() if name in space})
    fraction = chosen.pop("freeze_fraction", regime.freeze_fraction)
    # A fully frozen backbone trains the head in one phase, as the frozen regime does.
    regime = dataclasses.replace(regime, freeze_fraction=float(fraction), head_first=fraction < 1.0)
    # Not validated here (the registry, which validates, imports this module): callers pass it to registry.validate.
    return dataclasses.replace(case, **chosen), regime
