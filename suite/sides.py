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

from suite.case import Case
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


@dataclass(frozen=True, kw_only=True)
class Side:
    """An input side in pixels and why it was chosen (one of the ``FROM_*`` labels)."""

    pixels: int
    why: str


@dataclass(frozen=True, kw_only=True)
class SideRequest:
    """What a case asks of its input side: the architecture and the case's fields the rule reads.

    ``image_size``: the case's, 0 = not set; ``handle``: TF-Hub architectures' handle, "" = the architecture's
    default; ``weights``: the resolved weights (``none``, ``imagenet``, ``source:<name>``, ``hub:<handle>`` or a
    file); ``transfer_side``: the profile's, 0 = the weights' own side; ``case_id`` names the case in errors.
    """

    arch: str  # a key of ARCHITECTURES
    image_size: int = 0
    handle: str = ""
    weights: str = "none"
    transfer_side: int = 0
    case_id: str = ""

    @classmethod
    def of(cls, case: Case, weights: str, transfer_side: int = 0) -> SideRequest:
        """``case``'s request, with its resolved ``weights`` and the profile's ``transfer_side``."""
        named = {"arch": case.arch, "image_size": case.image_size, "handle": case.handle, "case_id": case.id}
        return cls(**named, weights=weights, transfer_side=transfer_side)


def starts_from_transfer(arch: str, weights: str) -> bool:
    """The case starts from weights trained at a side of their own: ImageNet's, or a TF-Hub module's."""
    return ARCHITECTURES[arch].hub or weights == "imagenet" or weights.startswith("hub:")


def resolve_side(request: SideRequest, dataset_side: int, module_sides: frozenset[int] = frozenset()) -> Side:
    """The model's input side for a case (see the module docstring for the rule).

    ``dataset_side``: the side of the dataset's images in pixels; ``module_sides``: the sides a TF-Hub module's
    traced signature accepts, empty = any (or not known).

    Raises:
        SuiteError: ``image_size`` below the architecture's minimum, or not a side the module was traced for.
    """
    arch, image_size, handle = request.arch, request.image_size, request.handle
    weights, transfer_side, case_id = request.weights, request.transfer_side, request.case_id
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
        return Side(pixels=image_size, why=FROM_IMAGE_SIZE)
    named = native_size(arch, handle)
    if module_sides:
        return Side(pixels=named if named in module_sides else max(module_sides), why=FROM_SIGNATURE)
    if starts_from_transfer(arch, weights):
        if transfer_side:
            return Side(pixels=max(transfer_side, spec.min_size), why=FROM_PROFILE)
        if named:
            why = FROM_HANDLE if spec.hub and handle_side(handle or spec.handle) else FROM_WEIGHTS
            return Side(pixels=named, why=why)
    side = max(dataset_side, spec.min_size)
    return Side(pixels=side, why=FROM_DATASET if side == dataset_side else FROM_MINIMUM)
