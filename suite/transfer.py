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

import hashlib
import json
import logging
import math
import os
import socket
import tempfile
import time
from pathlib import Path

import keras

from suite.case import Case
from suite.environment import cache_dir
from suite.models import ARCHITECTURES, build_backbone, build_classifier, builder_hash
from suite.profiles import Profile, SourceBudget
from suite.regimes import REGIMES

log = logging.getLogger(__name__)

SOURCE_RECIPE = 2  # bump when the pretraining recipe changes, so stale cached weights are not reused
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
    from suite.models import applications

    side = backbone.input_shape[1]
    build = applications.constructor(ARCHITECTURES[arch])
    published = build(include_top=False, weights="imagenet", input_shape=(side, side, 3))
    backbone.set_weights(published.get_weights())


def source_weights_path(arch: str, side: int, case: Case, budget: SourceBudget) -> Path:
    """The cache file for one architecture's source weights; its name carries everything that shapes them
    (a user architecture's builder hash too, so a changed builder is pretrained again)."""
    recipe = f"{SOURCE_RECIPE}|{arch}|{side}|{case.depth}|{case.bn_momentum}|{budget}"
    if builder_hash(arch):
        recipe += f"|{builder_hash(arch)}"
    digest = hashlib.sha256(recipe.encode()).hexdigest()[:12]
    return cache_dir() / "source" / f"{arch}-{budget.dataset}-{side}px-{digest}.weights.h5"


def source_record(weights_path: Path) -> Path:
    """The JSON beside a cached weights file: the source accuracy it reached and what it cost."""
    return weights_path.with_name(weights_path.name.replace(".weights.h5", ".json"))


def source_accuracy(arch: str, side: int, case: Case, budget: SourceBudget) -> float | None:
    """The last-epoch source training accuracy of the cached weights, if they exist."""
    record = source_record(source_weights_path(arch, side, case, budget))
    return json.loads(record.read_text())["source_accuracy"] if record.is_file() else None


def pretrain_on_source(arch: str, side: int, case: Case, budget: SourceBudget) -> Path:
    """Pretrains ``arch`` on the made source set, once, and caches the backbone weights.

    The file is written to a temporary name and renamed, so a crash never leaves a
    half-written cache entry that a later run would trust.
    """
    import tensorflow as tf

    from suite.data.glyphs import CLASSES, make_glyphs
    from suite.data.pipeline import make_input

    path = source_weights_path(arch, side, case, budget)
    if path.is_file():
        return path
    if budget.dataset != "glyphs":
        raise WeightsUnavailable(f"unknown source dataset {budget.dataset!r}; the suite makes 'glyphs'")
    started = time.perf_counter()
    log.info(
        "  pretraining %s on %s at %dpx (%d images x %d epochs), cached for later runs",
        arch,
        budget.dataset,
        side,
        budget.images_per_class * len(CLASSES),
        budget.epochs,
    )
    keras.utils.set_random_seed(0)
    images, labels = make_glyphs(budget.images_per_class, side, seed=0)
    data = make_input(
        tf.data.Dataset.from_tensor_slices((images, labels)),
        arch=arch,
        side=side,
        num_classes=len(CLASSES),
        batch_size=64,
        training=True,
        augment=0.0,
    )
    backbone = build_backbone(arch, side, depth=case.depth, bn_momentum=case.bn_momentum)
    model = build_classifier(backbone, len(CLASSES))
    steps = -(-len(labels) // 64)
    optimizer = keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(1e-3, steps * budget.epochs))
    optimizer.build(model.trainable_variables)
    model.compile(optimizer=optimizer, loss="categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(data, epochs=budget.epochs, shuffle=False, verbose=0)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".weights.h5", delete=False) as handle:
        temporary = Path(handle.name)
    try:
        backbone.save_weights(temporary)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    accuracy = float(history.history["accuracy"][-1])
    seconds = time.perf_counter() - started
    source_record(path).write_text(json.dumps({"source_accuracy": accuracy, "seconds": seconds, "budget": str(budget)}))
    log.info("  source accuracy %.3f after %.0f s", accuracy, seconds)
    return path


def load_weights(backbone: keras.Model, weights: str, arch: str, case: Case, budget: SourceBudget) -> str:
    """Loads ``weights`` into ``backbone``; returns the label the row records."""
    if weights == "none" or weights.startswith("hub:"):  # a hub module came with its weights when it was built
        return weights
    if weights == "imagenet":
        load_imagenet(backbone, arch)
        return "imagenet"
    if weights.startswith("source:"):
        source = weights.split(":", 1)[1]
        if source != budget.dataset:
            budget = SourceBudget(source, budget.images_per_class, budget.epochs)
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
