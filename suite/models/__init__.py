"""Architectures: one generic classifier builder, one module per family.

This module holds only the table of architectures, so that listing cases or
validating a TOML file never imports TensorFlow. ``build_classifier`` imports
the family module on first use.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import keras


@dataclass(frozen=True)
class ArchSpec:
    """What the rest of the suite needs to know about an architecture."""

    name: str
    module: str  # family module under suite.models
    min_size: int  # smallest input side in pixels the network accepts
    preprocess: str  # input convention: "caffe" (BGR, mean-subtracted 0-255), "tf" ([-1, 1]) or "unit" ([0, 1])
    imagenet: bool  # published ImageNet weights exist (Keras applications)
    summary: str


ARCHITECTURES: dict[str, ArchSpec] = {
    a.name: a
    for a in (
        ArchSpec("simple_cnn", "simple_cnn", 8, "unit", False, "plain conv-BN-pool baseline"),
        ArchSpec(
            "resnet_scratch", "resnet", 8, "unit", False, "CIFAR-style ResNet from the suite's own residual blocks"
        ),
        ArchSpec("resnet50", "applications", 32, "caffe", True, "keras.applications.ResNet50"),
        ArchSpec("inception_v3", "applications", 75, "tf", True, "keras.applications.InceptionV3"),
        ArchSpec("mobilenet_v2", "applications", 32, "tf", True, "keras.applications.MobileNetV2"),
    )
}


def build_backbone(
    arch: str, input_size: int, *, depth: int = 0, l2: float = 0.0, bn_momentum: float = 0.9
) -> keras.Model:
    """Builds the named backbone with random weights: images in, feature map out.

    Args:
        arch: a key of ``ARCHITECTURES``.
        input_size: input side in pixels (square, 3 channels).
        depth: the family's depth knob; 0 keeps the family default.
        l2: kernel L2 penalty for the suite's own families.
        bn_momentum: moving-average momentum of every batch-norm layer.
    """
    spec = ARCHITECTURES[arch]
    family = importlib.import_module(f"suite.models.{spec.module}")
    backbone = family.build_backbone(arch, input_size, depth=depth, l2=l2)
    for layer in backbone.layers:
        if hasattr(layer, "moving_mean") and hasattr(layer, "momentum"):
            layer.momentum = bn_momentum
    return backbone


def build_classifier(backbone: keras.Model, num_classes: int, *, dropout: float = 0.0, l2: float = 0.0) -> keras.Model:
    """Puts a new head on a backbone: global average pool, dropout, softmax dense named ``classifier``.

    Batch norm inference mode for fine-tuning is set by freezing the batch-norm
    layers (``suite.train.freeze``): Keras 3 runs a non-trainable BatchNormalization
    in inference mode, while a ``training=False`` recorded in a functional graph
    did not stop its moving statistics from updating (tests/test_models.py).
    """
    import keras

    inputs = keras.Input(backbone.input_shape[1:], name="image")
    x = keras.layers.GlobalAveragePooling2D(name="pool")(backbone(inputs))
    if dropout > 0:
        x = keras.layers.Dropout(dropout, name="dropout")(x)
    regularizer = keras.regularizers.L2(l2) if l2 > 0 else None
    outputs = keras.layers.Dense(
        num_classes, activation="softmax", kernel_regularizer=regularizer, dtype="float32", name="classifier"
    )(x)
    return keras.Model(inputs, outputs, name=f"{backbone.name}_classifier")
