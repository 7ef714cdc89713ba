"""The machine and library versions every row carries, and device selection.

Numbers from different machines must never be compared silently, so each row
records where it was measured.

TensorFlow and Keras are imported inside the functions that ask them, as storage and the reports import this
module and must stay light.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import socket
import subprocess
from functools import cache
from pathlib import Path

from suite.distribute import split_cpu
from suite.errors import SuiteError
from suite.version import __version__


def configure_device(device: str) -> str:
    """Makes TensorFlow use ``cpu``, ``gpu`` or (``auto``) whatever is there; returns ``cpu`` or ``gpu``.

    Must run before TensorFlow places any tensor. Splits the CPU into
    ``$SUITE_LOGICAL_CPUS`` logical devices where set (``suite.distribute``: a testing aid for mirrored cases).
    """
    import tensorflow as tf

    split_cpu()
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


def cache_dir() -> Path:
    """Where per-machine results worth keeping go (source weights, the compute roof).

    ``$SUITE_CACHE_DIR``, else ``~/.cache/keras-classifier-suite``.
    """
    return Path(os.environ.get("SUITE_CACHE_DIR") or Path.home() / ".cache" / "keras-classifier-suite")


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


def _gpu_driver() -> str:
    """The NVIDIA driver version, from ``nvidia-smi`` where there is one."""
    try:
        done = subprocess.run(
            ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    return done.stdout.strip().splitlines()[0] if done.returncode == 0 and done.stdout.strip() else ""


def git_commit() -> str:
    """The suite's git commit (``+dirty`` with uncommitted changes), or ``unknown`` outside a checkout."""
    source = Path(__file__).resolve().parent

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=source, capture_output=True, text=True, timeout=10)
        if done.returncode:
            raise OSError(done.stderr)
        return done.stdout.strip()

    try:
        commit = git("rev-parse", "--short=12", "HEAD")
        dirty = git("status", "--porcelain", "--untracked-files=no", "--", ".")
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return commit + ("+dirty" if dirty else "")


# The fields that make two measurements comparable. The suite's own commit is
# recorded but left out: comparing two versions of the code is the point of a gate.
FINGERPRINT_FIELDS = (
    "cpu_model",
    "cpu_count",
    "gpu_name",
    "gpu_driver",
    "cuda_version",
    "cudnn_version",
    "tf_version",
    "keras_version",
    "onednn",
    "threads",
)


@cache
def environment() -> dict[str, str]:
    """The machine and software every row records, and ``fingerprint``: a short hash of ``FINGERPRINT_FIELDS``."""
    import keras
    import tensorflow as tf

    build = tf.sysconfig.get_build_info()
    gpus = tf.config.list_physical_devices("GPU")
    gpu_name = tf.config.experimental.get_device_details(gpus[0]).get("device_name", "GPU") if gpus else ""
    threads = (
        f"intra={tf.config.threading.get_intra_op_parallelism_threads()} "
        f"inter={tf.config.threading.get_inter_op_parallelism_threads()} "
        f"omp={os.environ.get('OMP_NUM_THREADS', '')}"
    )
    facts = {
        "cpu_model": cpu_model(),
        "cpu_count": str(os.cpu_count()),
        "gpu_name": f"{gpu_name} x{len(gpus)}" if gpus else "",
        "gpu_driver": _gpu_driver() if gpus else "",
        "cuda_version": str(build.get("cuda_version", "")) if gpus else "",
        "cudnn_version": str(build.get("cudnn_version", "")) if gpus else "",
        "tf_version": tf.__version__,
        "keras_version": keras.__version__,
        # TF enables oneDNN by default on x86 Linux; TF_ENABLE_ONEDNN_OPTS=0 turns it off.
        "onednn": os.environ.get("TF_ENABLE_ONEDNN_OPTS", "default"),
        "threads": threads,
    }
    digest = hashlib.sha256(json.dumps(facts, sort_keys=True).encode()).hexdigest()[:12]
    return {
        **facts,
        "fingerprint": digest,
        "python_version": platform.python_version(),
        "suite_version": __version__,
        "git_commit": git_commit(),
        "hostname": socket.gethostname(),
        "platform": platform.platform(),
    }


def differing_fields(frame) -> list[str]:
    """The ``FINGERPRINT_FIELDS`` whose values differ between the rows of ``frame`` (``unknown`` if none do)."""
    return [f for f in FINGERPRINT_FIELDS if f in frame and frame[f].nunique(dropna=False) > 1] or ["unknown"]


def require_one_fingerprint(frame, force: bool = False, what: str = "these results") -> None:
    """Refuses to compare rows measured on different machines or software stacks, unless ``force``.

    ``frame`` is a results DataFrame; the error names the fields that differ.
    """
    if "fingerprint" not in frame or force:
        return
    prints = frame["fingerprint"].dropna().unique()
    if len(prints) <= 1:
        return
    raise SuiteError(
        f"{what} mix {len(prints)} machine fingerprints (differing: {', '.join(differing_fields(frame))}); "
        "numbers from different machines are not comparable; pass --force to compare anyway"
    )
