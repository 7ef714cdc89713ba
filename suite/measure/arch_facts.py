"""The architecture table's counted columns: parameters with a 10-class head, and GFLOPs at the native side.

Both are counted from the built model (``build_backbone`` + ``build_classifier``,
random weights; FLOPs by ``model_facts.flops_per_image``), never copied from a
published table. Building the largest Keras applications takes a minute, so each
count is cached per machine under ``<cache>/archs/``, keyed by the Keras version
and every field of the architecture's row: a changed row or Keras is counted again.

``model_facts`` and ``suite.models.hub`` (both import TensorFlow) are imported where a count is made: `suite archs`
and the run order read cached counts without starting TensorFlow.
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
from suite.models import ARCHITECTURES, ArchSpec, build_backbone, build_classifier

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


def cached_counts(arch: str) -> dict[str, float] | None:
    """The counts of ``arch`` if this machine has counted them already (``suite archs``); never counts."""
    path = _cache_path(ARCHITECTURES[arch])
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


# GFLOPs per image at a side, as `suite archs` counted them on the project's machine (docs/archs.md: Keras 3.15,
# 2026-12-03), for estimates where this machine has counted nothing yet (`suite run --dry-run`). The TF-Hub
# modules are the same networks as their Keras namesakes (hub_inception_v3: inception_v3, hub_mobilenet_v2:
# mobilenet_v2) less the head's few FLOPs. tests/test_archs.py keeps the table complete.
# fmt: off
PROJECT_GFLOPS: dict[str, tuple[float, int]] = {
    "simple_cnn": (0.0208, 32),
    "resnet_scratch": (0.0821, 32),
    "convnext_tiny": (8.76, 224),
    "convnext_small": (17.1, 224),
    "convnext_base": (30.4, 224),
    "convnext_large": (68.2, 224),
    "convnext_xlarge": (121, 224),
    "densenet121": (5.7, 224),
    "densenet169": (6.76, 224),
    "densenet201": (8.63, 224),
    "efficientnet_b0": (0.801, 224),
    "efficientnet_b1": (1.42, 240),
    "efficientnet_b2": (2.05, 260),
    "efficientnet_b3": (3.76, 300),
    "efficientnet_b4": (9.02, 380),
    "efficientnet_b5": (21, 456),
    "efficientnet_b6": (38.9, 528),
    "efficientnet_b7": (76.9, 600),
    "efficientnet_v2_b0": (1.46, 224),
    "efficientnet_v2_b1": (2.42, 240),
    "efficientnet_v2_b2": (3.44, 260),
    "efficientnet_v2_b3": (6.09, 300),
    "efficientnet_v2_s": (16.9, 384),
    "efficientnet_v2_m": (49.6, 480),
    "efficientnet_v2_l": (113, 480),
    "inception_resnet_v2": (26.4, 299),
    "inception_v3": (11.5, 299),
    "mobilenet": (1.15, 224),
    "mobilenet_v2": (0.613, 224),
    "mobilenet_v3_small": (0.116, 224),
    "mobilenet_v3_large": (0.444, 224),
    "nasnet_mobile": (1.15, 224),
    "nasnet_large": (47.8, 331),
    "resnet50": (7.75, 224),
    "resnet101": (15.2, 224),
    "resnet152": (22.6, 224),
    "resnet50_v2": (6.99, 224),
    "resnet101_v2": (14.4, 224),
    "resnet152_v2": (21.9, 224),
    "vgg16": (30.7, 224),
    "vgg19": (39, 224),
    "xception": (16.8, 299),
    "hub_inception_v3": (11.5, 299),
    "hub_mobilenet_v2": (0.613, 224),
}
# fmt: on


def gflops_at(arch: str, side: int) -> tuple[float, str] | None:
    """GFLOPs per image of ``arch`` at ``side``, scaled from a count by side squared, and where the count is from:
    ``counted here`` (this machine's cache, ``suite archs``) or ``project count`` (``PROJECT_GFLOPS``).

    A convolutional network's FLOPs grow with the pixels: ResNet50's 7.75 GFLOPs at 224 px are about 0.16 at
    32 px (224² / 32² = 49 times fewer). ``None`` where neither has a count (a user architecture not counted yet).
    """
    spec = ARCHITECTURES[arch]
    counts = cached_counts(arch)
    if counts is not None and counts.get("gflops") == counts.get("gflops"):  # not NaN (a hub module not loaded)
        gflops, at, source = counts["gflops"], flops_side(spec), "counted here"
    elif arch in PROJECT_GFLOPS and spec.source != "user":
        (gflops, at), source = PROJECT_GFLOPS[arch], "project count"
    else:
        return None
    return gflops * (side / at) ** 2, source


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
