"""The machine and library versions every row carries, and device selection.

Numbers from different machines must never be compared silently, so each row
records where it was measured.
"""

from __future__ import annotations

import os
import platform
import socket
from functools import cache

from suite import __version__
from suite.errors import SuiteError


def configure_device(device: str) -> str:
    """Makes TensorFlow use ``cpu``, ``gpu`` or (``auto``) whatever is there; returns ``cpu`` or ``gpu``.

    Must run before TensorFlow places any tensor.
    """
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if device == "cpu":
        if gpus:
            try:
                tf.config.set_visible_devices([], "GPU")
            except RuntimeError:  # TensorFlow already placed tensors in this process
                raise SuiteError("--device cpu must be chosen before TensorFlow starts using the GPU") from None
        return "cpu"
    if device == "gpu":
        if not gpus:
            raise SuiteError("--device gpu: TensorFlow sees no GPU here; use --device cpu or auto")
        return "gpu"
    if device != "auto":
        raise SuiteError(f"unknown device {device!r}; valid: cpu, gpu, auto")
    return "gpu" if gpus else "cpu"


@cache
def cpu_model() -> str:
    """The CPU's marketing name, from /proc/cpuinfo where there is one."""
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def device_name(kind: str) -> str:
    """A human label for the device a case ran on, e.g. ``cpu: AMD EPYC 7B13 x2``."""
    if kind == "gpu":
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        details = tf.config.experimental.get_device_details(gpus[0]) if gpus else {}
        return f"gpu: {details.get('device_name', 'GPU')} x{len(gpus)}"
    return f"cpu: {cpu_model()} x{os.cpu_count()}"


@cache
def environment() -> dict[str, str]:
    """Library versions and machine identity, one flat dict for every row."""
    import keras
    import tensorflow as tf

    return {
        "tf_version": tf.__version__,
        "keras_version": keras.__version__,
        "python_version": platform.python_version(),
        "suite_version": __version__,
        "hostname": socket.gethostname(),
        "platform": platform.platform(),
    }
