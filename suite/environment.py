"""The machine and library versions every row carries, and device selection.

Numbers from different machines must never be compared silently, so each row
records where it was measured.

TensorFlow and Keras are imported inside the functions that ask them, as storage and the reports import this
module and must stay light.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import platform
import socket
import subprocess
from functools import cache
from pathlib import Path

import cpuinfo

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


# The instruction sets that change how fast TensorFlow and the runtimes run here (oneDNN and XNNPACK pick their
# kernels by them), as /proc/cpuinfo and py-cpuinfo name them; the fingerprint records which of them are present.
SPEED_FLAGS = ("avx2", "fma", "avx512f", "avx512bw", "avx512_vnni", "avx512_bf16", "avx_vnni", "amx_tile", "amx_bf16",
               "amx_int8", "neon", "asimd", "sve")  # fmt: skip
# The deployed formats' runtimes, whose kernels set the formats' latencies: their versions join the fingerprint.
RUNTIMES = ("ai-edge-litert", "onnxruntime", "openvino")


@cache
def cpu_info() -> dict:
    """py-cpuinfo's description of this CPU (on Linux read from /proc/cpuinfo first), the one read per process."""
    return cpuinfo.get_cpu_info()


def cpu_identity(info: dict) -> dict[str, str]:
    """What tells two CPUs apart, from py-cpuinfo's ``info``: vendor, family, model and stepping, the speed flags
    present, and cache sizes. Two AMD EPYC machines of one marketing name, Zen 3 (family 25 model 1, AVX2) and
    Zen 4 (family 25 model 17, AVX-512), differ here and measured 3-4x apart training ResNet50."""
    flags = set(info.get("flags", ()))
    caches = (f"{level}={info.get(f'{level}_cache_size', '')}" for level in ("l1_data", "l2", "l3"))
    return {
        "cpu_model": info.get("brand_raw") or platform.processor() or platform.machine(),
        "cpu_vendor": str(info.get("vendor_id_raw", "")),
        "cpu_family": str(info.get("family", "")),
        "cpu_model_number": str(info.get("model", "")),
        "cpu_stepping": str(info.get("stepping", "")),
        "cpu_flags": " ".join(flag for flag in SPEED_FLAGS if flag in flags),
        "cpu_caches": " ".join(caches),
    }


def widest_vectors(flags: str) -> str:
    """The widest vector instructions of a ``cpu_flags`` value, in words: AMX, AVX-512, AVX2 or neither."""
    present = set(flags.split())
    for flag, words in (("amx_tile", "AMX"), ("avx512f", "AVX-512"), ("avx2", "AVX2"), ("sve", "SVE")):
        if flag in present:
            return words
    return "NEON" if present & {"neon", "asimd"} else "no AVX2"


def cpu_words(identity: dict[str, str]) -> str:
    """The CPU in words, e.g. ``AMD EPYC (family 25 model 1, AVX2)``: its name, and what sets its speed."""
    if not identity.get("cpu_family"):
        return identity["cpu_model"]
    family, model = identity["cpu_family"], identity["cpu_model_number"]
    return f"{identity['cpu_model']} (family {family} model {model}, {widest_vectors(identity['cpu_flags'])})"


def device_name(kind: str) -> str:
    """A human label for the device a case ran on, e.g. ``cpu: AMD EPYC (family 25 model 1, AVX2) x2``."""
    if kind == "gpu":
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        details = tf.config.experimental.get_device_details(gpus[0]) if gpus else {}
        return f"gpu: {details.get('device_name', 'GPU')} x{len(gpus)}"
    return f"cpu: {cpu_words(cpu_identity(cpu_info()))} x{os.cpu_count()}"


def runtime_versions() -> str:
    """The installed deployed-format runtimes and their versions (``RUNTIMES``), e.g. ``onnxruntime=1.20.1``."""
    found = []
    for name in RUNTIMES:
        try:
            found.append(f"{name}={importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            continue
    return " ".join(found)


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
    "cpu_vendor",
    "cpu_family",
    "cpu_model_number",
    "cpu_stepping",
    "cpu_flags",
    "cpu_caches",
    "cpu_count",
    "gpu_name",
    "gpu_driver",
    "cuda_version",
    "cudnn_version",
    "tf_version",
    "keras_version",
    "runtime_versions",
    "onednn",
    "threads",
)


JOB_THREADS = "SUITE_JOB_THREADS"  # set in a worker that trains side by side (suite.run.parallel): its share of cores


def job_threads() -> int | None:
    """The intra-op threads this process was given as one of several jobs side by side; None when it runs alone."""
    value = os.environ.get(JOB_THREADS, "")
    return int(value) if value.isdigit() and int(value) > 0 else None


def limit_threads(threads: int) -> None:
    """Makes this process one job of several: ``threads`` intra-op threads, one inter-op thread, and tf.data's
    pools as wide (``suite.data.pipeline`` reads ``job_threads``). Must run before TensorFlow's runtime starts.

    ``environment()`` is computed first, so the rows keep the machine's fingerprint, as a job run alone records it:
    the share of the cores is the row's ``job_threads``, not a different machine.
    """
    import tensorflow as tf

    environment()
    os.environ[JOB_THREADS] = str(threads)
    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)


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
        **cpu_identity(cpu_info()),
        "cpu_count": str(os.cpu_count()),
        "gpu_name": f"{gpu_name} x{len(gpus)}" if gpus else "",
        "gpu_driver": _gpu_driver() if gpus else "",
        "cuda_version": str(build.get("cuda_version", "")) if gpus else "",
        "cudnn_version": str(build.get("cudnn_version", "")) if gpus else "",
        "tf_version": tf.__version__,
        "keras_version": keras.__version__,
        "runtime_versions": runtime_versions(),
        # TF enables oneDNN by default on x86 Linux; TF_ENABLE_ONEDNN_OPTS=0 turns it off.
        "onednn": os.environ.get("TF_ENABLE_ONEDNN_OPTS", "default"),
        "threads": threads,
    }
    return {
        **facts,
        "fingerprint": fingerprint(facts),
        "python_version": platform.python_version(),
        "suite_version": __version__,
        "git_commit": git_commit(),
        "hostname": socket.gethostname(),
        "platform": platform.platform(),
    }


def fingerprint(facts: dict[str, str]) -> str:
    """A short hash of ``facts`` (the ``FINGERPRINT_FIELDS``): equal exactly when every field is."""
    return hashlib.sha256(json.dumps(facts, sort_keys=True).encode()).hexdigest()[:12]


def differing_fields(frame) -> list[str]:
    """The ``FINGERPRINT_FIELDS`` whose values differ between the rows of ``frame`` (``unknown`` if none do)."""
    return [f for f in FINGERPRINT_FIELDS if f in frame and frame[f].nunique(dropna=False) > 1] or ["unknown"]


def before_identity(frame) -> int:
    """How many rows of ``frame`` an older suite wrote, whose fingerprint hashed the CPU's marketing name and core
    count only (no ``cpu_family``): it gave a Zen 3 and a Zen 4 ``AMD EPYC`` one fingerprint."""
    if "fingerprint" not in frame:
        return 0
    if "cpu_family" not in frame:
        return len(frame)
    return int((frame["cpu_family"].fillna("").astype(str) == "").sum())


def older_rows_advice(count: int) -> str:
    """What to do with ``count`` rows written before the fingerprint told CPUs apart (``before_identity``)."""
    return (
        f"{count} row(s) were written by an older suite whose fingerprint knew the CPU only by its marketing name "
        f"and core count, so it can't tell this CPU ({cpu_words(cpu_identity(cpu_info()))}) from another of that "
        "name. They stay readable on their own (suite report, suite summarise). To go on, run into a new --results "
        "folder, or pass --force if you know they were measured on this CPU"
    )


def require_one_fingerprint(frame, force: bool = False, what: str = "these results") -> None:
    """Refuses to compare rows measured on different machines or software stacks, unless ``force``.

    ``frame`` is a results DataFrame; the error names the fields that differ.
    """
    if "fingerprint" not in frame or force:
        return
    prints = frame["fingerprint"].dropna().unique()
    if len(prints) <= 1:
        return
    older = before_identity(frame)
    if 0 < older < len(frame):
        raise SuiteError(f"{what} mix {len(prints)} machine fingerprints: {older_rows_advice(older)}")
    raise SuiteError(
        f"{what} mix {len(prints)} machine fingerprints (differing: {', '.join(differing_fields(frame))}); "
        "numbers from different machines are not comparable; pass --force to compare anyway"
    )
