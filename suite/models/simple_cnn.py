"""A plain conv-BN-ReLU-pool network: the baseline every other model must beat."""

from __future__ import annotations

import keras


def build_backbone(arch: str, input_size: int, *, depth: int = 0, l2: float = 0.0) -> keras.Model:
    """``depth`` conv blocks (default 3), widths 32, 64, 128, ..., each halving the side."""
    blocks = depth or 3
    if blocks < 1:
        raise ValueError(f"simple_cnn needs depth >= 1. Received: depth={depth}")
    regularizer = keras.regularizers.L2(l2) if l2 > 0 else None
    inputs = keras.Input((input_size, input_size, 3), name="image")
    x = inputs
    for i in range(blocks):
        width = 32 * 2**i
        x = keras.layers.Conv2D(
            width, 3, padding="same", use_bias=False, kernel_regularizer=regularizer, name=f"block{i + 1}_conv"
        )(x)
        x = keras.layers.BatchNormalization(name=f"block{i + 1}_bn")(x)
        x = keras.layers.ReLU(name=f"block{i + 1}_relu")(x)
        if x.shape[1] > 1:
            x = keras.layers.MaxPooling2D(2, name=f"block{i + 1}_pool")(x)
    return keras.Model(inputs, x, name=arch)
