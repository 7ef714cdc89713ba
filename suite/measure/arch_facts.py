"""The architecture table's counted columns: parameters with a 10-class head, and GFLOPs at the native side.

Both are counted from the built model (``build_backbone`` + ``build_classifier``,
random weights; FLOPs by ``model_facts.flops_per_image``), never copied from a
published table. Building the largest Keras applications takes a minute, so each
count is cached per machine under ``<cache>/archs/``, keyed by the Keras version
and every field of the architecture's row: a changed row or Keras is counted again.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import math
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from suite.environment import cache_dir
from suite.models import ARCHITECTURES, ArchSpec

log = logging.getLogger(__name__)

COUNT_VERSION = 1  # bump when what is counted changes
HEAD_CLASSES = 10  # the head the parameter count includes: CIFAR-10's and the digits'
DATASET_SIDE = 32  # where an architecture has no native side (the suite's own), FLOPs are counted at CIFAR's side
COLUMNS = (
    "name",
    "family",
    "source",
    "params_10_class",
    "native_side",
    "min_side",
    "convention",
    "imagenet_weights",
    "gflops_at_native_side",
    "flops_side",
)


def flops_side(spec: ArchSpec) -> int:
    """The side FLOPs are counted at: the native side, else CIFAR's 32 px (raised to the architecture's minimum)."""
    return spec.native_size or max(DATASET_SIDE, spec.min_size)


def count(arch: str) -> dict[str, float]:
    """Builds ``arch`` at its FLOPs side with a 10-class head; its parameter count and GFLOPs per image."""
    import keras

    from suite.measure.model_facts import flops_per_image
    from suite.models import build_backbone, build_classifier

    side = flops_side(ARCHITECTURES[arch])
    model = build_classifier(build_backbone(arch, side), HEAD_CLASSES)
    counted = {"params_10_class": int(model.count_params()), "gflops": flops_per_image(model, side) / 1e9}
    keras.backend.clear_session()
    return counted


def _cache_path(spec: ArchSpec) -> Path:
    import keras

    identity = json.dumps([COUNT_VERSION, keras.__version__, dataclasses.asdict(spec)], sort_keys=True)
    digest = hashlib.sha256(identity.encode()).hexdigest()[:12]
    return cache_dir() / "archs" / f"{spec.name}-{digest}.json"


def cached(arch: str) -> dict[str, float] | None:
    """The counts of ``arch`` if they are already cached on this machine, else None: never builds a model."""
    spec = ARCHITECTURES.get(arch)
    path = _cache_path(spec) if spec is not None else None
    if path is None or not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def counted(arch: str, counter: Callable[[str], dict[str, float]] | None = None) -> dict[str, float]:
    """The counts of ``arch``, from the cache or counted now and cached (written atomically).

    A TF-Hub architecture is counted from its default module where that loads (the network, or the module in
    ``$TFHUB_CACHE_DIR``); where it can't, its counts are NaN and nothing is cached, so a later call tries again.
    """
    spec = ARCHITECTURES[arch]
    path = _cache_path(spec)
    if path.is_file():
        return json.loads(path.read_text())
    log.info("counting %s's parameters and FLOPs at %d px (once; cached in %s)", arch, flops_side(spec), path.parent)
    from suite.models.hub import HubUnavailable

    try:
        counts = (counter or count)(arch)
    except HubUnavailable as error:
        log.warning("  %s not counted: %s", arch, str(error).split(";")[0])
        return {"params_10_class": math.nan, "gflops": math.nan}
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, suffix=".tmp", delete=False) as handle:
        json.dump(counts, handle)
    os.replace(handle.name, path)
    return counts


def row(arch: str, counter: Callable[[str], dict[str, float]] | None = None) -> dict:
    """One line of `suite archs`: the table's facts and the counted columns."""
    spec = ARCHITECTURES[arch]
    counts = counted(arch, counter)
    return {
        "name": spec.name,
        "family": spec.family,
        "source": spec.source,
        "params_10_class": counts["params_10_class"],
        "native_side": spec.native_size or None,
        "min_side": spec.min_size,
        "convention": spec.preprocess,
        "imagenet_weights": spec.imagenet,
        "gflops_at_native_side": counts["gflops"],
        "flops_side": flops_side(spec),
    }
