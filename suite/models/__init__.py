"""Architectures: one table, one generic classifier builder, one module per family.

``ARCHITECTURES`` holds the suite's own two networks, the two TF-Hub modules and
the 40 Keras applications (``suite.models.keras_table``); user architectures are
added to it at run time (``suite.models.user``). This module imports no
TensorFlow, so that listing cases or validating a TOML file stays fast;
``build_backbone`` imports the family module on first use.
"""

from __future__ import annotations

import importlib
import re
from typing import TYPE_CHECKING

from suite.models.keras_table import KERAS_APPLICATIONS
from suite.models.spec import ArchSpec

if TYPE_CHECKING:
    import keras


ARCHITECTURES: dict[str, ArchSpec] = {
    a.name: a
    for a in (
        ArchSpec(
            name="simple_cnn",
            module="simple_cnn",
            min_size=8,
            preprocess="unit",
            imagenet=False,
            summary="plain conv-BN-pool baseline",
            family="simple_cnn",
        ),
        ArchSpec(
            name="resnet_scratch",
            module="resnet",
            min_size=8,
            preprocess="unit",
            imagenet=False,
            summary="CIFAR-style ResNet from the suite's own residual blocks",
            family="resnet_cifar",
        ),
        ArchSpec(
            name="hub_inception_v3",
            module="hub",
            min_size=75,
            preprocess="unit",
            imagenet=False,
            summary="Inception V3 ImageNet feature vector from TF Hub",
            family="inception_v3",
            source="hub",
            handle="https://tfhub.dev/google/imagenet/inception_v3/feature_vector/5",
            native_size=299,
        ),
        ArchSpec(
            name="hub_mobilenet_v2",
            module="hub",
            min_size=32,
            preprocess="unit",
            imagenet=False,
            summary="MobileNetV2 (1.0, 224) ImageNet feature vector from TF Hub",
            family="mobilenet_v2",
            source="hub",
            handle="https://tfhub.dev/google/imagenet/mobilenet_v2_100_224/feature_vector/5",
            native_size=224,
        ),
        *KERAS_APPLICATIONS,
    )
}


# The input side a hub handle names: ".../mobilenet_v2_100_96/feature_vector/5", ".../100-96-feature-vector/2".
_HANDLE_SIDE = re.compile(r"[_/]\d{3}[_-](\d{2,3})[/_-]feature[_-]vector")


def handle_side(handle: str) -> int:
    """The input side a TF-Hub handle's name states (``mobilenet_v2_100_96`` -> 96); 0 where it states none."""
    named = _HANDLE_SIDE.search(handle)
    return int(named.group(1)) if named else 0


def native_size(arch: str, handle: str = "") -> int:
    """The side the architecture's pretrained weights were trained at: the one a hub handle names, else the
    architecture's own (224 for most Keras applications, 299 for the Inceptions). 0 means none.

    A hub module's traced input signature, where fixed, says more than its name: ``suite.sides`` reads it first.
    """
    spec = ARCHITECTURES[arch]
    return (handle_side(handle or spec.handle) if spec.hub else 0) or spec.native_size


def builder_hash(arch: str) -> str:
    """A user architecture's builder hash (``suite.models.user``); "" for a built-in one or an unknown name.

    What a row, a search or cached source weights are keyed by folds it in only when it is not empty, so the keys
    of built-in architectures never change.
    """
    spec = ARCHITECTURES.get(arch)
    return spec.builder_hash if spec else ""


def build_backbone(
    arch: str, input_size: int, *, depth: int = 0, l2: float = 0.0, bn_momentum: float = 0.9, handle: str = ""
) -> keras.Model:
    """Builds the named backbone: images in, feature map (or a hub module's feature vector) out.

    Weights are random, except for TF-Hub architectures, whose module brings its own.

    Args:
        arch: a key of ``ARCHITECTURES``.
        input_size: input side in pixels (square, 3 channels).
        depth: the family's depth knob; 0 keeps the family default.
        l2: kernel L2 penalty for the suite's own families.
        bn_momentum: moving-average momentum of every Keras batch-norm layer (a hub module keeps its own).
        handle: TF-Hub architectures only: the module to load; "" = the architecture's default handle.
    """
    spec = ARCHITECTURES[arch]
    if handle and not spec.hub:
        raise ValueError(f"{arch} is not a TF-Hub architecture; only hub_* architectures take a handle")
    family = importlib.import_module(f"suite.models.{spec.module}")
    extra = {"handle": handle or spec.handle} if spec.hub else {}
    backbone = family.build_backbone(arch, input_size, depth=depth, l2=l2, **extra)
    for layer in backbone.layers:
        if hasattr(layer, "moving_mean") and hasattr(layer, "momentum"):
            layer.momentum = bn_momentum
    return backbone


def build_classifier(backbone: keras.Model, num_classes: int, *, dropout: float = 0.0, l2: float = 0.0) -> keras.Model:
    """Puts a new head on a backbone: global average pool (of a feature map), dropout, softmax dense ``classifier``.

    Batch norm inference mode for fine-tuning is set by freezing the batch-norm
    layers (``suite.train.freeze``): Keras 3 runs a non-trainable BatchNormalization
    in inference mode, while a ``training=False`` recorded in a functional graph
    did not stop its moving statistics from updating (tests/test_models.py).
    """
    import keras

    inputs = keras.Input(backbone.input_shape[1:], name="image")
    x = backbone(inputs)
    if len(x.shape) == 4:  # a feature map; hub feature vectors come pooled already
        x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    if dropout > 0:
        x = keras.layers.Dropout(dropout, name="dropout")(x)
    regularizer = keras.regularizers.L2(l2) if l2 > 0 else None
    outputs = keras.layers.Dense(
        num_classes, activation="softmax", kernel_regularizer=regularizer, dtype="float32", name="classifier"
    )(x)
    return keras.Model(inputs, outputs, name=f"{backbone.name}_classifier")
