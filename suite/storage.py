"""The results folder: ``results.csv`` (one row per case and seed) and the files beside it.

Rows are flat, with units in the column names. Only the process holding the
folder's lock appends, one row per ``write`` call followed by ``fsync``; a
write that fails (a full disk) is cut back to the last whole row, and a half
row left by a ``kill -9`` mid-write is moved aside before the next append. Rows
already written are never rewritten. ``results/README.md`` documents every file
and column.
"""

from __future__ import annotations

import csv
import errno
import io
import logging
import math
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from suite.environment import FINGERPRINT_FIELDS
from suite.errors import SuiteError

log = logging.getLogger(__name__)

COLUMNS = [
    # identity
    "case_id",
    "arch",
    "regime",
    "dataset",
    "weights",
    "seed",
    "profile",
    "status",
    "error",
    "case_key",
    "arch_builder",
    "arch_builder_hash",
    # training
    "epochs",
    "train_seconds",
    "train_images_per_s",
    "train_jit_compile",
    "train_jit_speedup",
    "train_jit_note",
    "time_to_target_s",
    "target_accuracy",
    "train_images",
    "train_per_class",
    "strategy",
    "replicas",
    "source_pretrain_seconds",
    "source_accuracy",
    # search (regime tuned; suite.tuning)
    "tuner",
    "tuner_trials",
    "tuner_search_seconds",
    "tuner_best_json",
    "tuner_latency_budget_ms",
    # accuracy
    "val_accuracy",
    "test_accuracy",
    "test_images",
    # model
    "params",
    "trainable_params",
    "gflops_per_image",
    "model_mb",
    "checkpoint_mb",
    "image_size",
    "batch_size",
    "train_oom_batch",
    "optimizer",
    "learning_rate",
    # speed, float32; each figure from the faster execution mode (xla: latency's, throughput_xla: throughput's)
    "xla",
    "precision",
    "xla_speedup",
    "latency_p50_ms",
    "latency_p50_ci_low_ms",
    "latency_p50_ci_high_ms",
    "latency_p90_ms",
    "latency_p99_ms",
    "latency_mean_ms",
    "latency_std_ms",
    "latency_n",
    "throughput_ips",
    "throughput_batch",
    "throughput_xla",
    "throughput_oom_batch",
    "achieved_gflops",
    "peak_gflops",
    "theoretical_gflops",
    "roofline_fraction",
    "peak_rss_mb",
    "peak_gpu_mb",
    "measure_seconds",
    # deployment (formats.csv): the fastest format at batch 1 within 1 point of Keras' accuracy
    "best_format",
    "best_format_latency_p50_ms",
    # where and when: the machine fingerprint and what it hashes
    "device",
    "device_name",
    "fingerprint",
    *FINGERPRINT_FIELDS,
    "python_version",
    "suite_version",
    "git_commit",
    "hostname",
    "platform",
    "started_at",
    "finished_at",
    "case_seconds",
    "case_json",
]
RESULTS_FILE = "results.csv"
FOLDERS = (
    *("models", "history", "errors", "charts", "latency", "throughput", "logs", "tuning", "tensorboard", "deploy"),
)
# Where the rest of the disk-full family lands: no space, over quota, over the file-size limit.
NO_SPACE = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
# Read as text even when a value looks like a number (a hex digest of digits only, a version "12.0").
TEXT_COLUMNS = (
    *FINGERPRINT_FIELDS,
    "fingerprint",
    "case_key",
    "arch_builder",
    "arch_builder_hash",
    "git_commit",
    "python_version",
    "suite_version",
)


def results_path(results_dir: Path) -> Path:
    return Path(results_dir) / RESULTS_FILE


def unwritable(results_dir: Path, reason: str) -> SuiteError:
    return SuiteError(f"--results {results_dir} can't be written ({reason}); choose another folder")


def prepare(results_dir: Path) -> Path:
    """Creates the folder layout and the CSV header; refuses a results.csv with other columns.

    Call it while holding the folder's lock: it also moves aside a half-written
    last row (see ``repair_tail``).
    """
    results_dir = Path(results_dir)
    if results_dir.exists() and not results_dir.is_dir():
        raise SuiteError(f"--results {results_dir} is a file, not a folder")
    try:
        for sub in FOLDERS:
            (results_dir / sub).mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise unwritable(results_dir, error.strerror) from None
    if not os.access(results_dir, os.W_OK):
        raise unwritable(results_dir, "permission denied")
    path = results_path(results_dir)
    if path.exists() and path.stat().st_size:
        with path.open(newline="") as handle:
            header = next(csv.reader(handle), [])
        if header != COLUMNS:
            raise SuiteError(
                f"{path} has other columns than this suite version writes; choose a new --results folder "
                "(existing results are left untouched)"
            )
        repair_tail(results_dir)
    else:
        _append(path, _line(COLUMNS))
    from suite.format_store import prepare_formats  # here, not at the top: it builds on this module

    prepare_formats(results_dir)
    return path


def repair_tail(results_dir: Path, name: str = RESULTS_FILE) -> int:
    """Moves a half-written last row (no final newline) of ``name`` to ``errors/``; returns the bytes moved.

    A single ``write`` of one row is all but atomic, but a ``kill -9`` or a
    power cut can still land inside one; the fragment is kept, not deleted.
    """
    path = Path(results_dir) / name
    data = path.read_bytes()
    if not data or data.endswith(b"\n"):
        return 0
    cut = data.rfind(b"\n") + 1
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    aside = Path(results_dir) / "errors" / f"partial-row-{Path(name).stem}-{stamp}.txt"
    aside.write_bytes(data[cut:])
    with path.open("r+b") as handle:
        handle.truncate(cut)
        os.fsync(handle.fileno())
    log.warning("%s ended in a half-written row (%d bytes); moved it to %s", name, len(data) - cut, aside)
    return len(data) - cut


def _line(values: list) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(values)
    return buffer.getvalue()


def _append(path: Path, text: str) -> None:
    """Appends ``text`` whole or not at all: a failed or short write is cut back to where it started."""
    data = text.encode()
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    except OSError as error:
        raise SuiteError(f"{path} can't be written ({error.strerror}); choose another --results folder") from None
    try:
        start = os.fstat(descriptor).st_size
        try:
            written = os.write(descriptor, data)
            if written != len(data):
                raise OSError(errno.ENOSPC, f"short write: {written} of {len(data)} bytes")
            os.fsync(descriptor)
        except OSError as error:
            os.ftruncate(descriptor, start)
            if error.errno in NO_SPACE:
                raise SuiteError(
                    f"no space left to write {path}; free some space and rerun the same command "
                    "(the rows already written are intact, and finished cases are skipped)"
                ) from None
            raise
    finally:
        os.close(descriptor)


SIGNIFICANT_DIGITS = 6  # what a stored float keeps: enough for any measured figure, never its magnitude's victim


def significant(value):
    """``value`` with ``SIGNIFICANT_DIGITS`` significant figures if it is a float (0.000221 stays 0.000221)."""
    if isinstance(value, float) and math.isfinite(value):
        return float(f"{value:.{SIGNIFICANT_DIGITS}g}")
    return value


def append_row(results_dir: Path, row: dict) -> None:
    """Appends one row in a single write; unknown keys are an error, missing ones stay empty."""
    unknown = set(row) - set(COLUMNS)
    if unknown:
        raise ValueError(f"row has columns the schema lacks: {sorted(unknown)}")
    values = ["" if row.get(c) is None else significant(row.get(c)) for c in COLUMNS]
    _append(results_path(results_dir), _line(values))


def read_results(results_dir: Path) -> pd.DataFrame:
    """Every stored row of ``results_dir`` as a DataFrame (empty, with the columns, if none)."""
    path = results_path(results_dir)
    if not path.is_file():
        raise SuiteError(f"no {RESULTS_FILE} in {results_dir}; run `suite run --results {results_dir}` first")
    data = path.read_bytes()
    whole = data[: data.rfind(b"\n") + 1]  # a half-written last row (a kill mid-write) is not a row
    if not whole:
        return pd.DataFrame(columns=COLUMNS)
    frame = pd.read_csv(io.BytesIO(whole), keep_default_na=True, dtype={c: str for c in TEXT_COLUMNS})
    for column in TEXT_COLUMNS:
        if column in frame:
            frame[column] = frame[column].fillna("")
    return frame if len(frame.columns) else pd.DataFrame(columns=COLUMNS)


def case_file(results_dir: Path, folder: str, case_id: str, seed: int, suffix: str) -> Path:
    """``DIR/<folder>/<case_id>-s<seed><suffix>``: where a case's model, history or traceback goes."""
    return Path(results_dir) / folder / f"{case_id}-s{seed}{suffix}"


LOCK_FILE = ".lock"


@contextmanager
def locked(results_dir: Path) -> Iterator[None]:
    """Holds ``DIR/.lock`` for one ``suite run``; a second run on the same folder gets a ``SuiteError``.

    ``flock`` belongs to the open file, so the kernel releases it when the
    holder dies, even by ``kill -9``: a lock never outlives its run.
    """
    import fcntl

    path = Path(results_dir) / LOCK_FILE
    try:
        handle = path.open("a+")
    except OSError as error:
        raise unwritable(results_dir, error.strerror) from None
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise SuiteError(
                f"{results_dir} is in use by another suite run ({holder}); wait for it to finish, "
                "or choose another --results folder"
            ) from None
        handle.seek(0)
        handle.truncate()
        since = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        handle.write(f"pid {os.getpid()} on {os.uname().nodename} since {since}")
        handle.flush()
        yield
    finally:
        handle.close()


# Source pretraining that failed in this run (suite.run.steps.build): one file per "arch@side" under DIR/errors/, so
# every executor's workers see it, whichever process or machine they run in; each run starts without them.
FAILED_SOURCE = "failed-source-{}.txt"
_UNWRITTEN_FAILURES: dict[Path, str] = {}  # failures a full disk kept out of the folder: known to this process only


def failed_source(results_dir: Path, key: str) -> str | None:
    """The one-line error of ``key``'s source pretraining if it failed earlier in this run, else None."""
    path = Path(results_dir) / "errors" / FAILED_SOURCE.format(key)
    return path.read_text().strip() if path.is_file() else _UNWRITTEN_FAILURES.get(path)


def record_failed_source(results_dir: Path, key: str, error: str) -> None:
    """Remembers for the rest of this run that ``key``'s source pretraining failed with ``error``.

    Written to a temporary name and renamed, so a worker reading it at that moment sees the whole reason or no
    file; on a full disk this process still remembers it.
    """
    path = Path(results_dir) / "errors" / FAILED_SOURCE.format(key)
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    try:
        partial.write_text(error + "\n")
        partial.replace(path)
    except OSError:
        partial.unlink(missing_ok=True)
        _UNWRITTEN_FAILURES[path] = error


def forget_failed_sources(results_dir: Path) -> None:
    """Clears the failures of earlier runs (call under the folder's lock): a new run tries every source again."""
    for path in (Path(results_dir) / "errors").glob(FAILED_SOURCE.format("*")):
        path.unlink(missing_ok=True)
    _UNWRITTEN_FAILURES.clear()
