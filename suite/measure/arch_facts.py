"""The architecture table's counted columns: parameters with a 10-class head, and GFLOPs at the native side.

Both are counted from the built model (``build_backbone`` + ``build_classifier``,
random weights; FLOPs by ``model_facts.flops_per_image``), never copied from a
published table. Building all the Keras applications takes many minutes, so the
counts are known two ways without building anything:

- this machine's cache, under ``<cache>/archs/``, keyed by the Keras version and
  every field of the architecture's row (a changed row or Keras is counted again);
- the figures shipped with the package (``arch_counts.json`` beside this module),
  counted by a real build of every built-in architecture with
  ``python -m suite.measure.arch_facts --write`` and used only where the row's digest
  and the installed Keras major.minor are the ones they were counted from.

``model_facts`` and ``suite.models.hub`` (both import TensorFlow) are imported where a count is made: `suite archs`
and the run order read known counts without starting TensorFlow.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import importlib.metadata
import json
import logging
import math
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from suite.environment import cache_dir
from suite.models import ARCHITECTURES, ArchSpec, build_backbone, build_classifier

log = logging.getLogger(__name__)

COUNT_VERSION = 1  # bump when what is counted changes
HEAD_CLASSES = 10  # the head the parameter count includes: CIFAR-10's and the digits'
DATASET_SIDE = 32  # where an architecture has no native side (the suite's own), FLOPs are counted at CIFAR's side
SHIPPED = Path(__file__).with_name("arch_counts.json")  # the figures shipped with the package
# The TF-Hub modules are the same networks as their Keras namesakes, less the head's few FLOPs: run-time estimates
# (``gflops_at``) use the namesake's figure where the module was never counted here.
HUB_NAMESAKES = {"hub_inception_v3": "inception_v3", "hub_mobilenet_v2": "mobilenet_v2"}
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
    "counts_from",
)
CACHE, FROM_SHIPPED = "cache", "shipped"  # where a row's counts come from (``counts_from``; "" = not counted)


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


def keras_version() -> str:
    """The installed Keras' version, from its package metadata: the same string as ``keras.__version__``, read
    without importing Keras (and TensorFlow, seconds), so that listing stays instant."""
    return importlib.metadata.version("keras")


def major_minor(version: str) -> str:
    """``3.15`` of ``3.15.1``: the Keras releases whose applications the shipped figures stand for."""
    return ".".join(version.split(".")[:2])


def row_digest(spec: ArchSpec) -> str:
    """12 hex digits of the row and what is counted: a shipped figure stands for this row only."""
    identity = json.dumps([COUNT_VERSION, dataclasses.asdict(spec)], sort_keys=True)
    return hashlib.sha256(identity.encode()).hexdigest()[:12]


def _cache_path(spec: ArchSpec) -> Path:
    identity = json.dumps([COUNT_VERSION, keras_version(), dataclasses.asdict(spec)], sort_keys=True)
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


@functools.cache
def shipped_file() -> dict:
    """The shipped figures file as read (``{}`` where it is missing or unreadable): read once per process."""
    try:
        return json.loads(SHIPPED.read_text())
    except (OSError, ValueError):
        return {}


def shipped(arch: str) -> dict[str, float] | None:
    """The counts of ``arch`` shipped with the package, else None: never builds a model. Only where they were
    counted from this very row on the installed Keras major.minor, so they are what a build here would count."""
    spec, figures = ARCHITECTURES.get(arch), shipped_file()
    entry = figures.get("counts", {}).get(arch)
    if spec is None or entry is None or spec.source == "user" or entry["row"] != row_digest(spec):
        return None
    if figures["keras"] != major_minor(keras_version()):
        return None
    return {"params_10_class": entry["params_10_class"], "gflops": entry["gflops"]}


def known(arch: str) -> tuple[dict[str, float], str] | None:
    """The counts of ``arch`` and where they come from: this machine's cache, else the shipped figures, else None.
    Never builds a model: `suite archs` lists with this, the run order estimates with it."""
    for source, lookup in ((CACHE, cached), (FROM_SHIPPED, shipped)):
        counts = lookup(arch)
        if counts is not None:
            return counts, source
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


def gflops_at(arch: str, side: int) -> tuple[float, str] | None:
    """GFLOPs per image of ``arch`` at ``side``, scaled from a count by side squared, and where the count is from:
    ``counted here`` (this machine's cache) or ``shipped count`` (the shipped figure, whatever Keras it was counted
    on: an estimate; a TF-Hub module takes its Keras namesake's).

    A convolutional network's FLOPs grow with the pixels: ResNet50's 7.75 GFLOPs at 224 px are about 0.16 at
    32 px (224² / 32² = 49 times fewer). ``None`` where neither has a count (a user architecture not counted yet).
    """
    spec = ARCHITECTURES[arch]
    counts = cached(arch)
    if counts is not None and counts.get("gflops") == counts.get("gflops"):  # not NaN (a hub module not loaded)
        return counts["gflops"] * (side / flops_side(spec)) ** 2, "counted here"
    entry = shipped_file().get("counts", {}).get(HUB_NAMESAKES.get(arch, arch))
    if entry is None or spec.source == "user":
        return None
    return entry["gflops"] * (side / entry["flops_side"]) ** 2, "shipped count"


def row(arch: str) -> dict:
    """One line of `suite archs`: the table's facts and the known counts (NaN where none is known)."""
    spec = ARCHITECTURES[arch]
    counts, source = known(arch) or ({"params_10_class": math.nan, "gflops": math.nan}, "")
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
        "counts_from": source,
    }


def count_shipped(counter: Callable[[str], dict[str, float]] | None = None) -> dict:
    """Every built-in architecture counted by a real build (``counter``), as the shipped figures file holds them.
    A TF-Hub module that can't load here is left out (listed as ``not_counted``)."""
    from suite.environment import device_name
    from suite.models.hub import HubUnavailable

    started, counts, not_counted = time.monotonic(), {}, []
    for arch, spec in ARCHITECTURES.items():
        if spec.source == "user":
            continue
        log.info("counting %s at %d px", arch, flops_side(spec))
        try:
            figures = (counter or count)(arch)
        except HubUnavailable:
            not_counted.append(arch)
            continue
        counts[arch] = {"row": row_digest(spec), "flops_side": flops_side(spec), **figures}
    return {
        "keras": major_minor(keras_version()),
        "made_by": "python -m suite.measure.arch_facts --write (a real build of each, random weights)",
        "keras_version": keras_version(),
        "tensorflow_version": importlib.metadata.version("tensorflow"),
        "device": device_name("cpu"),
        "counted_on": time.strftime("%Y-%m-%d"),
        "counting_took_s": round(time.monotonic() - started),
        "not_counted": not_counted,
        "counts": counts,
    }


def main(argv: list[str] | None = None) -> int:
    """``python -m suite.measure.arch_facts --write``: rebuilds every built-in architecture and rewrites the
    shipped figures (``arch_counts.json``), after a Keras minor release or a changed row. Takes about 20 minutes
    on 2 cores; ``tests/test_archs.py`` says when it is due."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m suite.measure.arch_facts", description=main.__doc__)
    parser.add_argument("--write", action="store_true", help=f"count every built-in architecture into {SHIPPED}")
    parser.add_argument("--to", type=Path, default=SHIPPED, help="write here instead (default: the shipped file)")
    args = parser.parse_args(argv)
    if not args.write:
        parser.print_help()
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    figures = count_shipped()
    args.to.write_text(json.dumps(figures, indent=1, sort_keys=True) + "\n")
    log.info("wrote %d counts to %s in %d s", len(figures["counts"]), args.to, figures["counting_took_s"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
