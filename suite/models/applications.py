"""Backbones from ``keras.applications``, without their ImageNet top: one builder for the 40 of them.

Weights are always built random here; ``suite.transfer`` loads ImageNet or
source-pretrained weights afterwards, so that every way of getting weights
goes through one place and is recorded in the row.
"""

from __future__ import annotations

import keras

from suite.models import ARCHITECTURES
from suite.models.spec import ArchSpec


def constructor(spec: ArchSpec):
    """The ``keras.applications`` function that builds ``spec`` (``keras.applications.EfficientNetV2B0``)."""
    return getattr(keras.applications, spec.constructor)


def build_backbone(arch: str, input_size: int, *, depth: int = 0, l2: float = 0.0) -> keras.Model:
    """The Keras application named ``arch`` with ``include_top=False`` and random weights.

    Models with ``include_preprocessing`` keep Keras' default (on): they take 0-255 pixels.
    """
    if depth:
        raise ValueError(
            f"{arch} has a fixed depth; depth applies to simple_cnn and resnet_scratch. Received: depth={depth}"
        )
    if l2:
        raise ValueError(f"{arch} is a keras.applications model; use weight_decay instead of l2. Received: l2={l2}")
    build = constructor(ARCHITECTURES[arch])
    backbone = build(include_top=False, weights=None, input_shape=(input_size, input_size, 3))
    backbone.name = arch  # renamed after: EfficientNetV2 looks its block table up by its ``name`` argument
    return backbone
