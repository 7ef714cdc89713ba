"""Backbones from ``keras.applications``, without their ImageNet top.

Weights are always built random here; ``suite.transfer`` loads ImageNet or
source-pretrained weights afterwards, so that every way of getting weights
goes through one place and is recorded in the row.
"""

from __future__ import annotations

import keras

CONSTRUCTORS = {
    "resnet50": keras.applications.ResNet50,
    "inception_v3": keras.applications.InceptionV3,
    "mobilenet_v2": keras.applications.MobileNetV2,
}


def build_backbone(arch: str, input_size: int, *, depth: int = 0, l2: float = 0.0) -> keras.Model:
    """The Keras application named ``arch`` with ``include_top=False`` and random weights."""
    if depth:
        raise ValueError(
            f"{arch} has a fixed depth; depth applies to simple_cnn and resnet_scratch. Received: depth={depth}"
        )
    if l2:
        raise ValueError(f"{arch} is a keras.applications model; use weight_decay instead of l2. Received: l2={l2}")
    return CONSTRUCTORS[arch](include_top=False, weights=None, input_shape=(input_size, input_size, 3), name=arch)
