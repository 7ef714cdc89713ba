"""What a model is and costs: FLOPs, size, memory, precision variants.

FLOPs are counted by TensorFlow's graph profiler on the frozen batch-1 inference
graph, multiply and add counted apart: the convention of the published counts
in ``REFERENCE.md`` (ResNet50 7.76 GFLOPs at 224x224), which the tests check.
"""

from __future__ import annotations

import logging
import resource
import sys

import keras
import numpy as np
import tensorflow as tf

PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")


def flops_per_image(model: keras.Model, side: int) -> int:
    """Floating-point operations of one batch-1 forward pass, from the traced and frozen graph."""
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    function = tf.function(lambda images: model(images, training=False))
    concrete = function.get_concrete_function(tf.TensorSpec((1, side, side, 3), model.inputs[0].dtype))
    frozen = convert_variables_to_constants_v2(concrete)
    options = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
    options["output"] = "none"
    quiet = logging.getLogger("tensorflow")
    level = quiet.level
    quiet.setLevel(logging.ERROR)  # the v1 profiler announces its own deprecation on every call
    try:
        graph_info = tf.compat.v1.profiler.profile(
            graph=frozen.graph, run_meta=tf.compat.v1.RunMetadata(), cmd="op", options=options
        )
    finally:
        quiet.setLevel(level)
    return int(graph_info.total_float_ops)


def trainable_params(model: keras.Model) -> int:
    return int(sum(np.prod(w.shape) for w in model.trainable_weights))


def with_precision(model: keras.Model, precision: str) -> keras.Model:
    """A copy of ``model`` under the ``precision`` dtype policy, same weights; the ``classifier`` stays float32.

    Keras stores each layer's dtype policy in its config, so the copy is rebuilt
    from a config with every float32 policy replaced.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; valid: {', '.join(PRECISIONS)}")
    if precision == "float32":
        return model

    def rewrite(node, keep_float32: bool = False):
        if isinstance(node, dict):
            if node.get("class_name") == "DTypePolicy" and node.get("config", {}).get("name") == "float32":
                return node if keep_float32 else {**node, "config": {**node["config"], "name": precision}}
            keep = keep_float32 or (node.get("name") == "classifier" and "dtype" in node)
            return {key: rewrite(value, keep) for key, value in node.items()}
        if isinstance(node, list):
            return [rewrite(item, keep_float32) for item in node]
        return node

    copy = model.__class__.from_config(rewrite(model.get_config()))
    copy.set_weights(model.get_weights())
    return copy


def serialized_mb(path) -> float:
    """Size of a saved file in MB (10^6 bytes): for a ``.keras`` checkpoint, weights and optimizer state."""
    from pathlib import Path

    return Path(path).stat().st_size / 1e6


def weights_mb(model: keras.Model) -> float:
    """The inference weights in MB (10^6 bytes): every variable a deployment carries, none of the optimizer's."""
    return sum(int(np.prod(w.shape)) * np.dtype(w.dtype).itemsize for w in model.weights) / 1e6


def peak_rss_mb() -> float:
    """The process' peak resident memory so far, in MB (10^6 bytes); each case runs in its own process."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1e6 if sys.platform == "darwin" else peak * 1024 / 1e6  # bytes on macOS, KiB on Linux


def reset_gpu_peak() -> None:
    """Starts a new peak for ``peak_gpu_mb`` (no-op without a GPU)."""
    if tf.config.list_logical_devices("GPU"):
        tf.config.experimental.reset_memory_stats("GPU:0")


def peak_gpu_mb() -> float | None:
    """Peak GPU memory TensorFlow allocated since ``reset_gpu_peak``, in MB; ``None`` without a GPU."""
    if not tf.config.list_logical_devices("GPU"):
        return None
    return round(tf.config.experimental.get_memory_info("GPU:0")["peak"] / 1e6, 1)
