"""One small adapter per runtime: ``load(path, threads)`` gives ``predict(images) -> probabilities``.

``images`` is a float32 batch in the model's preprocessed input range,
``(n, side, side, 3)``; the result is a float32 ``(n, classes)`` array, already
on the host, so the timed region of a call ends when it returns. Each runtime
runs on ``threads`` intra-op threads (TensorFlow's own count, ``tf_threads``).

The optional runtimes' packages (LiteRT, ONNX Runtime, OpenVINO) are imported by their adapters: a missing one
is a ``skipped`` row (``suite.deploy.formats.missing_package``), never a failed import of this module.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from suite.measure.timing import compiled_call

Predict = Callable[[np.ndarray], np.ndarray]


def tf_threads() -> int:
    """The intra-op threads TensorFlow uses: its setting, or (0, the default) the cores this process may use."""
    return tf.config.threading.get_intra_op_parallelism_threads() or len(os.sched_getaffinity(0))


def load_keras(path: Path, threads: int) -> Predict:
    """The ``.keras`` file, reloaded, as one traced ``tf.function`` (``suite.measure.timing.compiled_call``)."""
    call = compiled_call(keras.models.load_model(path, compile=False))
    return lambda images: call(images).numpy()


def load_saved_model(path: Path, threads: int) -> Predict:
    """A SavedModel's ``serve`` endpoint (``model.export(format="tf_saved_model")``); TensorFlow's own threads."""
    loaded = tf.saved_model.load(str(path))  # held by the closure: its variables die with it

    return lambda images: loaded.serve(tf.constant(images)).numpy()


def load_litert(path: Path, threads: int) -> Predict:
    """A ``.tflite`` file on ``ai_edge_litert``'s interpreter; the input is resized when the batch changes.

    An int8 input is quantised with the file's own scale and zero point, an int8 output dequantised.
    """
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path), num_threads=threads)
    interpreter.allocate_tensors()
    source, target = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    batch = [int(source["shape"][0])]

    def predict(images: np.ndarray) -> np.ndarray:
        images = np.asarray(images, np.float32)  # a no-op for the float32 arrays the protocol passes
        if len(images) != batch[0]:
            interpreter.resize_tensor_input(source["index"], list(images.shape), strict=True)
            interpreter.allocate_tensors()
            batch[0] = len(images)
        interpreter.set_tensor(source["index"], _quantised(images, source))
        interpreter.invoke()
        return _dequantised(interpreter.get_tensor(target["index"]), target)

    return predict


def _quantised(images: np.ndarray, detail: dict) -> np.ndarray:
    if detail["dtype"] == np.float32:
        return np.asarray(images, np.float32)
    scale, zero = detail["quantization"]
    info = np.iinfo(detail["dtype"])
    return np.clip(np.round(images / scale + zero), info.min, info.max).astype(detail["dtype"])


def _dequantised(values: np.ndarray, detail: dict) -> np.ndarray:
    if detail["dtype"] == np.float32:
        return values
    scale, zero = detail["quantization"]
    return ((values.astype(np.float32) - zero) * scale).astype(np.float32)


def load_onnxruntime(path: Path, threads: int) -> Predict:
    """An ``.onnx`` file on ONNX Runtime's CPU provider, ``threads`` intra-op and one inter-op thread.

    Its threads spin while a run works and stop when it returns (``session.force_spinning_stop``). By default they
    go on spinning after a run, and an idle session then holds a core that the next thing timed needs: in a final
    lap on 2 cores that split every other entry's latency into two modes, about 2x apart.
    """
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    options.add_session_config_entry("session.force_spinning_stop", "1")
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name  # Keras' export names it after a tensor; read it, don't assume it
    return lambda images: session.run(None, {name: np.asarray(images, np.float32)})[0]


def load_openvino(path: Path, threads: int) -> Predict:
    """An OpenVINO IR (``.xml`` + ``.bin``) on the CPU plugin, in float32.

    ``INFERENCE_PRECISION_HINT`` is forced to f32: on a CPU with AVX512_BF16 the default is bfloat16.
    """
    import openvino as ov

    config = {"INFERENCE_NUM_THREADS": threads, "INFERENCE_PRECISION_HINT": "f32"}
    compiled = ov.Core().compile_model(str(path), "CPU", config)
    request, output = compiled.create_infer_request(), compiled.output(0)
    return lambda images: request.infer({0: np.asarray(images, np.float32)})[output]


RUNTIMES: dict[str, Callable[[Path, int], Predict]] = {
    "keras": load_keras,
    "saved_model": load_saved_model,
    "litert": load_litert,
    "onnxruntime": load_onnxruntime,
    "openvino": load_openvino,
}


def runtime_version(runtime: str) -> str:
    """The version of the package that runs ``runtime`` (``keras``/``saved_model``: TensorFlow's)."""
    from importlib.metadata import PackageNotFoundError, version

    package = {"litert": "ai-edge-litert", "onnxruntime": "onnxruntime", "openvino": "openvino"}.get(runtime)
    try:
        return version(package or "tensorflow")
    except PackageNotFoundError:
        return ""
