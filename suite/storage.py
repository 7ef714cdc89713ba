"""The results folder: ``results.csv`` (one row per case and seed) and the files beside it.

Rows are flat, with units in the column names. Each row is appended with one
``write`` call on a file opened for appending, so a crash can't leave half a
row, and rows already written are never rewritten. ``results/README.md``
documents every file and column.
"""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

import pandas as pd

from suite.environment import FINGERPRINT_FIELDS
from suite.errors import SuiteError

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
    # training
    "epochs",
    "train_seconds",
    "train_images_per_s",
    "time_to_target_s",
    "target_accuracy",
    "train_images",
    "source_pretrain_seconds",
    "source_accuracy",
    # accuracy
    "val_accuracy",
    "test_accuracy",
    "test_images",
    # model
    "params",
    "trainable_params",
    "gflops_per_image",
    "model_mb",
    "image_size",
    "batch_size",
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
    "roofline_fraction",
    "peak_rss_mb",
    "peak_gpu_mb",
    "measure_seconds",
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
    "case_json",
]
RESULTS_FILE = "results.csv"
# Read as text even when a value looks like a number (a hex digest of digits only, a version "12.0").
TEXT_COLUMNS = (*FINGERPRINT_FIELDS, "fingerprint", "git_commit", "python_version", "suite_version")


def results_path(results_dir: Path) -> Path:
    return Path(results_dir) / RESULTS_FILE


def prepare(results_dir: Path) -> Path:
    """Creates the folder layout and the CSV header; refuses a results.csv with other columns."""
    results_dir = Path(results_dir)
    if results_dir.exists() and not results_dir.is_dir():
        raise SuiteError(f"--results {results_dir} is a file, not a folder")
    for sub in ("models", "history", "errors", "charts", "latency", "throughput"):
        (results_dir / sub).mkdir(parents=True, exist_ok=True)
    path = results_path(results_dir)
    if path.exists() and path.stat().st_size:
        with path.open(newline="") as handle:
            header = next(csv.reader(handle), [])
        if header != COLUMNS:
            raise SuiteError(
                f"{path} has other columns than this suite version writes; choose a new --results folder "
                "(existing results are left untouched)"
            )
    else:
        _append(path, _line(COLUMNS))
    return path


def _line(values: list) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(values)
    return buffer.getvalue()


def _append(path: Path, text: str) -> None:
    descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(descriptor, text.encode())
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def append_row(results_dir: Path, row: dict) -> None:
    """Appends one row in a single write; unknown keys are an error, missing ones stay empty."""
    unknown = set(row) - set(COLUMNS)
    if unknown:
        raise ValueError(f"row has columns the schema lacks: {sorted(unknown)}")
    _append(results_path(results_dir), _line(["" if row.get(c) is None else row.get(c) for c in COLUMNS]))


def read_results(results_dir: Path) -> pd.DataFrame:
    """Every stored row of ``results_dir`` as a DataFrame (empty, with the columns, if none)."""
    path = results_path(results_dir)
    if not path.is_file():
        raise SuiteError(f"no {RESULTS_FILE} in {results_dir}; run `suite run --results {results_dir}` first")
    frame = pd.read_csv(path, keep_default_na=True, dtype={c: str for c in TEXT_COLUMNS})
    for column in TEXT_COLUMNS:
        if column in frame:
            frame[column] = frame[column].fillna("")
    return frame if len(frame.columns) else pd.DataFrame(columns=COLUMNS)


def case_file(results_dir: Path, folder: str, case_id: str, seed: int, suffix: str) -> Path:
    """``DIR/<folder>/<case_id>-s<seed><suffix>``: where a case's model, history or traceback goes."""
    return Path(results_dir) / folder / f"{case_id}-s{seed}{suffix}"
