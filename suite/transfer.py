"""Where a pretrained backbone's weights come from, and the record of it.

- ``imagenet``: Keras' published weights, from the Keras cache or downloaded.
- ``source:glyphs``: weights the suite pretrains itself on a source set it makes
  (``suite.data.glyphs``), cached on disk; used where ImageNet weights can't be
  had, so transfer still means something offline.
- a path: a ``.weights.h5`` file saved from a backbone of the same architecture.
- ``hub:<handle>``: a TF-Hub architecture's module, which brings its weights
  (``suite.models.hub``); recorded with the handle it was loaded from.

``auto`` takes the profile's preference order. Random weights are never
presented as transfer: the row's ``weights`` column says which of these ran.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import socket
import time
from pathlib import Path

import keras

from suite.case import Case
from suite.models import ARCHITECTURES, applications
from suite.profiles import Profile, SourceBudget
from suite.regimes import REGIMES
from suite.source import (  # noqa: F401  (the cache's names, where callers have always found them)
    SourceUnavailable,
    pretrain_on_source,
    read_record,
    source_accuracy,
    source_dir,
    source_record,
    source_weights_path,
)

log = logging.getLogger(__name__)

IMAGENET_HOST = ("storage.googleapis.com", 443)


class WeightsUnavailable(RuntimeError):
    """The requested weights can't be had here (offline, not cached)."""


def imagenet_cached(arch: str) -> bool:
    """The ImageNet notop weights of ``arch`` are already in the Keras cache."""
    keras_home = Path(os.environ.get("KERAS_HOME") or Path.home() / ".keras")
    notop = ARCHITECTURES[arch].weights_file  # the name keras.applications fetches (suite.models.keras_table)
    return bool(notop) and (keras_home / "models" / notop).is_file()


REACH_MEMORY_S = 60.0  # how long one answer of can_reach stands: a dry run asks it for every pretrained case
_reached: dict[tuple[str, int], tuple[float, bool]] = {}  # host -> (when asked, answer)


def can_reach(host: tuple[str, int] = IMAGENET_HOST, timeout_s: float = 3.0) -> bool:
    """A TCP connection to the weights host opens within ``timeout_s`` (so a download won't hang).

    The answer stands for ``REACH_MEMORY_S``, so resolving the weights of a hundred cases costs one wait offline.
    """
    asked, answer = _reached.get(host, (-math.inf, False))
    if time.monotonic() - asked < REACH_MEMORY_S:
        return answer
    try:
        with socket.create_connection(host, timeout=timeout_s):
            answer = True
    except OSError:
        answer = False
    _reached[host] = (time.monotonic(), answer)
    return answer


def imagenet_available(arch: str) -> bool:
    """ImageNet weights exist for ``arch`` and are cached or downloadable now."""
    return ARCHITECTURES[arch].imagenet and (imagenet_cached(arch) or can_reach())


def resolve_weights(case: Case, profile: Profile) -> str:
    """The weights a case starts from: ``none``, ``imagenet``, ``source:<name>``, ``hub:<handle>`` or a file path."""
    if ARCHITECTURES[case.arch].hub:
        return f"hub:{case.handle or ARCHITECTURES[case.arch].handle}"
    if not REGIMES[case.regime].pretrained:
        return "none"
    if case.weights != "auto":
        return case.weights
    for choice in profile.transfer_weights:
        if choice == "imagenet" and not imagenet_available(case.arch):
            continue
        return choice
    return "source:glyphs"


def load_imagenet(backbone: keras.Model, arch: str) -> None:
    """Copies Keras' ImageNet weights for ``arch`` into ``backbone`` (same architecture, any input side)."""
    if not ARCHITECTURES[arch].imagenet:
        raise WeightsUnavailable(f"{arch} has no published ImageNet weights; use weights='source:glyphs' or a file")
    if not imagenet_cached(arch) and not can_reach():
        raise WeightsUnavailable(
            f"ImageNet weights for {arch} are not in the Keras cache and {IMAGENET_HOST[0]} can't be reached; "
            "copy the notop .h5 file into ~/.keras/models or use weights='source:glyphs'"
        )
    side = backbone.input_shape[1]
    build = applications.constructor(ARCHITECTURES[arch])
    published = build(include_top=False, weights="imagenet", input_shape=(side, side, 3))
    backbone.set_weights(published.get_weights())


def load_weights(backbone: keras.Model, weights: str, arch: str, case: Case, budget: SourceBudget) -> str:
    """Loads ``weights`` into ``backbone``; returns the label the row records."""
    if weights == "none" or weights.startswith("hub:"):  # a hub module came with its weights when it was built
        return weights
    if weights == "imagenet":
        load_imagenet(backbone, arch)
        return "imagenet"
    if weights.startswith("source:"):
        source = weights.split(":", 1)[1]
        if source != "glyphs":
            raise WeightsUnavailable(f"unknown source dataset {source!r}; the suite makes 'glyphs'")
        if source != budget.dataset:
            budget = dataclasses.replace(budget, dataset=source)
        backbone.load_weights(pretrain_on_source(arch, backbone.input_shape[1], case, budget))
        return weights
    path = Path(weights).expanduser()
    if not path.is_file():
        raise WeightsUnavailable(f"weights file {path} does not exist")
    check_weights_file(backbone, path)
    backbone.load_weights(path)
    return str(path)


def check_weights_file(backbone: keras.Model, path: Path) -> None:
    """Refuses a weights file whose arrays don't match the backbone's, shape for shape.

    Keras loads a file with extra or missing layers with only a warning, which
    would leave part of the backbone random under a "pretrained" label.
    """
    import h5py

    shapes: list[tuple[int, ...]] = []
    try:
        with h5py.File(path, "r") as handle:
            handle.visititems(
                lambda name, item: shapes.append(tuple(item.shape)) if isinstance(item, h5py.Dataset) else None
            )
    except OSError as error:
        raise WeightsUnavailable(f"weights file {path} is not an HDF5 weights file: {error}") from None
    expected = sorted(tuple(w.shape) for w in backbone.weights)
    if sorted(s for s in shapes if s != ()) != sorted(s for s in expected if s != ()):
        raise WeightsUnavailable(
            f"weights file {path} holds {len(shapes)} arrays that don't match the {len(expected)} of "
            f"{backbone.name} at {backbone.input_shape[1]}px; save it from a backbone of the same architecture"
        )
