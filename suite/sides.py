"""The input side a case's model runs at: one rule for the run, the tuner, the ``--budget`` probe and the dry run.

In order, the first that applies:

1. the case's ``image_size`` (at least the architecture's minimum; a TF-Hub module traced for fixed sides only
   must be given one of them);
2. a TF-Hub module whose traced input signature is fixed: its side (``suite.models.hub.traced_sides``);
3. a case that starts from ImageNet or hub weights: the profile's ``transfer_side`` where set, else the side
   the weights were trained at (``suite.models.native_size``: 224, 299, ... or the side a hub handle names);
4. every other case (``scratch``, ``source:glyphs``, a weights file): the dataset's side, raised to the
   architecture's minimum.

The weights are the resolved ones (``suite.transfer.resolve_weights``), so a case whose ImageNet weights can't be
had here falls back to ``source:glyphs`` *and* to the dataset's side, and the row says both. This module
imports no TensorFlow; the caller reads a hub module's traced sides and the dataset's side.
"""

from __future__ import annotations

from dataclasses import dataclass

from suite.errors import SuiteError
from suite.models import ARCHITECTURES, handle_side, native_size

# Why a side was chosen, as the dry run prints it.
FROM_IMAGE_SIZE = "image_size"
FROM_SIGNATURE = "module signature"
FROM_HANDLE = "handle name"
FROM_WEIGHTS = "weights' native"
FROM_PROFILE = "transfer_side"
FROM_DATASET = "dataset"
FROM_MINIMUM = "arch minimum"


@dataclass(frozen=True)
class Side:
    """An input side in pixels and why it was chosen (one of the ``FROM_*`` labels)."""

    pixels: int
    why: str


def starts_from_transfer(arch: str, weights: str) -> bool:
    """The case starts from weights trained at a side of their own: ImageNet's, or a TF-Hub module's."""
    return ARCHITECTURES[arch].hub or weights == "imagenet" or weights.startswith("hub:")


def resolve_side(
    arch: str,
    dataset_side: int,
    *,
    image_size: int = 0,
    handle: str = "",
    weights: str = "none",
    transfer_side: int = 0,
    module_sides: frozenset[int] = frozenset(),
    case_id: str = "",
) -> Side:
    """The model's input side for a case (see the module docstring for the rule).

    Args:
        arch: a key of ``ARCHITECTURES``.
        dataset_side: the side of the dataset's images in pixels.
        image_size: the case's ``image_size``; 0 = not set.
        handle: TF-Hub architectures: the case's handle ("" = the architecture's default).
        weights: the resolved weights: ``none``, ``imagenet``, ``source:<name>``, ``hub:<handle>`` or a file.
        transfer_side: the profile's ``transfer_side``; 0 = the weights' own side.
        module_sides: the sides a TF-Hub module's traced signature accepts; empty = any (or not known).
        case_id: names the case in errors.

    Raises:
        SuiteError: ``image_size`` below the architecture's minimum, or not a side the module was traced for.
    """
    spec = ARCHITECTURES[arch]
    where = f"case {case_id}: " if case_id else ""
    if image_size:
        if image_size < spec.min_size:
            raise SuiteError(
                f"{where}image_size is out of range (the minimum for {arch} is {spec.min_size}). "
                f"Received: image_size={image_size}"
            )
        if module_sides and image_size not in module_sides:
            traced = " or ".join(f"{side} x {side}" for side in sorted(module_sides))
            raise SuiteError(
                f"{where}image_size = {image_size} contradicts the hub module {handle or spec.handle}, whose traced "
                f"input signature takes {traced} images only; set image_size = {min(module_sides)} or leave it 0"
            )
        return Side(image_size, FROM_IMAGE_SIZE)
    named = native_size(arch, handle)
    if module_sides:
        return Side(named if named in module_sides else max(module_sides), FROM_SIGNATURE)
    if starts_from_transfer(arch, weights):
        if transfer_side:
            return Side(max(transfer_side, spec.min_size), FROM_PROFILE)
        if named:
            return Side(named, FROM_HANDLE if spec.hub and handle_side(handle or spec.handle) else FROM_WEIGHTS)
    side = max(dataset_side, spec.min_size)
    return Side(side, FROM_DATASET if side == dataset_side else FROM_MINIMUM)
