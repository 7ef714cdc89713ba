"""A ResNet built from the suite's own residual blocks (He et al., 2016, CIFAR variant).

Three stages of ``n`` basic blocks with widths 16, 32 and 64, so depth is
``6n + 2`` layers (ResNet-20 by default). A block whose input and output shapes
agree adds an identity shortcut; one that changes width or stride adds a 1x1
projection. The stem has no max-pool, so 32x32 inputs keep enough resolution.
"""

from __future__ import annotations

import keras

DEFAULT_DEPTH = 20  # layers: 6n + 2 with n = 3 blocks per stage
STAGE_WIDTHS = (16, 32, 64)  # filters per stage


def residual_block(x, filters: int, stride: int, name: str, regularizer=None):
    """Two 3x3 conv-BN layers plus a shortcut: identity, or a 1x1 projection when shapes change."""
    conv = dict(padding="same", use_bias=False, kernel_initializer="he_normal", kernel_regularizer=regularizer)
    shortcut = x
    if stride != 1 or x.shape[-1] != filters:
        shortcut = keras.layers.Conv2D(filters, 1, strides=stride, name=f"{name}_proj_conv", **conv)(x)
        shortcut = keras.layers.BatchNormalization(name=f"{name}_proj_bn")(shortcut)
    y = keras.layers.Conv2D(filters, 3, strides=stride, name=f"{name}_conv1", **conv)(x)
    y = keras.layers.BatchNormalization(name=f"{name}_bn1")(y)
    y = keras.layers.ReLU(name=f"{name}_relu1")(y)
    y = keras.layers.Conv2D(filters, 3, name=f"{name}_conv2", **conv)(y)
    y = keras.layers.BatchNormalization(name=f"{name}_bn2")(y)
    y = keras.layers.Add(name=f"{name}_add")([shortcut, y])
    return keras.layers.ReLU(name=f"{name}_out")(y)


def build_backbone(arch: str, input_size: int, *, depth: int = 0, l2: float = 0.0) -> keras.Model:
    """The ResNet-``depth`` feature extractor; ``depth`` must be 6n + 2 (8, 14, 20, 32, 44, 56, ...)."""
    depth = depth or DEFAULT_DEPTH
    if depth < 8 or (depth - 2) % 6:
        raise ValueError(
            f"resnet_scratch depth must be 6n + 2 with n >= 1 (8, 14, 20, 32, ...). Received: depth={depth}"
        )
    blocks_per_stage = (depth - 2) // 6
    regularizer = keras.regularizers.L2(l2) if l2 > 0 else None
    inputs = keras.Input((input_size, input_size, 3), name="image")
    x = keras.layers.Conv2D(
        STAGE_WIDTHS[0],
        3,
        padding="same",
        use_bias=False,
        kernel_initializer="he_normal",
        kernel_regularizer=regularizer,
        name="stem_conv",
    )(inputs)
    x = keras.layers.BatchNormalization(name="stem_bn")(x)
    x = keras.layers.ReLU(name="stem_relu")(x)
    for stage, filters in enumerate(STAGE_WIDTHS):
        for block in range(blocks_per_stage):
            stride = 2 if stage > 0 and block == 0 else 1
            x = residual_block(x, filters, stride, f"stage{stage + 1}_block{block + 1}", regularizer)
    return keras.Model(inputs, x, name=arch)
