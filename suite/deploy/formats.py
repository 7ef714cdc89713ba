"""The deployed formats: what each is, how Keras exports it, which runtime runs it, which package it needs.

Every file is written by Keras 3's own ``model.export(path, format=...)``; the
LiteRT variants pass converter options through it (``keras/src/export/litert.py``
sets each keyword on its ``tf.lite.TFLiteConverter``), so no converter is
rebuilt here. ``litert_int8`` is calibrated on images of the case's *training*
split (``calibration_images``), never the test split.
"""

from __future__ import annotations

import importlib.util
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from suite.errors import SuiteError

CALIBRATION_IMAGES = 100  # training images the full-integer converter calibrates on
PIP_DEPLOY = 'pip install -e ".[deploy]"'  # every runtime at once


@dataclass(frozen=True, kw_only=True)
class Format:
    """One deployed format of a trained model."""

    name: str
    runtime: str  # suite.deploy.runtimes.RUNTIMES key
    suffix: str  # of the file (".tflite", ".onnx", ".xml"); "" for a folder (SavedModel)
    export_format: str  # model.export(format=...); "" for the Keras reference (the saved .keras file)
    modules: tuple[str, ...]  # importable names needed to export and run it
    pip: str  # what installs them
    quantised: bool = False  # weights or activations below float32: the gate allows it a drop in accuracy
    options: Callable[[np.ndarray], dict[str, Any]] | None = None  # converter kwargs from the calibration images


def _optimize() -> list:
    import tensorflow as tf

    return [tf.lite.Optimize.DEFAULT]


def _fp16(calibration: np.ndarray) -> dict[str, Any]:
    import tensorflow as tf

    return {"optimizations": _optimize(), "target_spec": {"supported_types": [tf.float16]}}


def _dynamic_int8(calibration: np.ndarray) -> dict[str, Any]:
    return {"optimizations": _optimize()}


def _full_int8(calibration: np.ndarray) -> dict[str, Any]:
    """Every op in int8, int8 input and output; calibrated on ``calibration`` (training images)."""
    import tensorflow as tf

    return {
        "optimizations": _optimize(),
        "representative_dataset": representative_dataset(calibration),
        "target_spec": {"supported_ops": [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]},
        "inference_input_type": tf.int8,
        "inference_output_type": tf.int8,
    }


def representative_dataset(images: np.ndarray) -> Callable[[], Iterator[list[np.ndarray]]]:
    """The converter's ``representative_dataset``: each image of ``images`` as a batch of one."""

    def generate() -> Iterator[list[np.ndarray]]:
        for index in range(len(images)):
            yield [images[index : index + 1].astype(np.float32)]

    return generate


_LITERT = ("ai_edge_litert",)
_LITERT_PIP = "pip install ai-edge-litert"
_ONNX_PIP = "pip install 'tf2onnx>=1.17' onnx onnxruntime"
_TFLITE = {"runtime": "litert", "suffix": ".tflite", "export_format": "litert", "modules": _LITERT, "pip": _LITERT_PIP}
FORMATS: dict[str, Format] = {
    f.name: f
    for f in (
        # the reference: DIR/models/<case>-s<seed>.keras
        Format(name="keras", runtime="keras", suffix=".keras", export_format="", modules=(), pip=""),
        Format(
            name="saved_model", runtime="saved_model", suffix="", export_format="tf_saved_model", modules=(), pip=""
        ),
        Format(name="litert_fp32", **_TFLITE),
        Format(name="litert_fp16", **_TFLITE, quantised=True, options=_fp16),
        Format(name="litert_dynamic_int8", **_TFLITE, quantised=True, options=_dynamic_int8),
        Format(name="litert_int8", **_TFLITE, quantised=True, options=_full_int8),
        Format(
            name="onnx",
            runtime="onnxruntime",
            suffix=".onnx",
            export_format="onnx",
            modules=("tf2onnx", "onnx", "onnxruntime"),
            pip=_ONNX_PIP,
        ),
        # Keras' openvino backend imports scipy.signal, which the openvino package does not declare.
        Format(
            name="openvino",
            runtime="openvino",
            suffix=".xml",
            export_format="openvino",
            modules=("openvino", "scipy"),
            pip="pip install openvino scipy",
        ),
    )
}
EXPORTED = tuple(name for name in FORMATS if name != "keras")  # what --formats may ask for


def parse_formats(text: str) -> tuple[str, ...]:
    """``"litert_fp32,onnx"`` as a tuple of format names (``"none"``: no formats, whatever the profile says);
    ``SuiteError`` naming the valid ones for any other."""
    if text.strip().lower() == "none":
        return ()
    names = tuple(dict.fromkeys(part.strip() for part in text.split(",") if part.strip()))
    unknown = [name for name in names if name not in EXPORTED]
    if unknown or not names:
        raise SuiteError(f"unknown format {', '.join(unknown) or repr(text)}; valid: {', '.join(EXPORTED)}, or none")
    return names


def missing_package(fmt: Format) -> str | None:
    """``None`` if ``fmt`` can be exported and run here, else the skip reason with the command that installs it."""
    absent = [module for module in fmt.modules if importlib.util.find_spec(module) is None]
    if not absent:
        return None
    return f"{', '.join(absent)} not installed: {fmt.pip} (or {PIP_DEPLOY})"


def format_path(folder: Path, fmt: Format) -> Path:
    """Where ``fmt``'s file goes in a case's ``DIR/deploy/<case_id>-s<seed>/`` folder."""
    return Path(folder) / f"{fmt.name}{fmt.suffix}"


def export(model, fmt: Format, folder: Path, calibration: np.ndarray) -> tuple[Path, float]:
    """Writes ``model`` in ``fmt`` to ``folder`` with ``model.export``; returns the path and the seconds it took.

    ``calibration``: preprocessed training images, for the converter options that need them (``litert_int8``).
    """
    path = format_path(folder, fmt)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.is_dir():
        shutil.rmtree(path)  # a SavedModel half-written by a killed run
    options = fmt.options(calibration) if fmt.options else {}
    started = time.perf_counter()
    model.export(str(path), format=fmt.export_format, verbose=False, **options)
    return path, time.perf_counter() - started


def file_mb(path: Path) -> float:
    """Size in MB (10^6 bytes) of a file or everything under a folder; an OpenVINO ``.xml`` counts its ``.bin``."""
    path = Path(path)
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 1e6
    size = path.stat().st_size
    if path.suffix == ".xml" and path.with_suffix(".bin").is_file():
        size += path.with_suffix(".bin").stat().st_size
    return size / 1e6
