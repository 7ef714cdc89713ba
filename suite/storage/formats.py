"""``formats.csv``: one row per case x seed x deployed format (``suite.deploy``), the Keras reference included.

It follows ``results.csv``'s rules (``suite.storage.table``): one ``write`` per row under the folder's lock, a
half row moved aside, other columns refused. Each row names the ``.keras`` file it was exported from by its hash
(``model_sha256``), so a case retrained after a kill mid-formats never mixes rows of two models: reading keeps,
per case key and seed, only the rows of the model its latest Keras row measured.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd

from suite.environment import FINGERPRINT_FIELDS
from suite.storage.results import TEXT_COLUMNS
from suite.storage.table import Table

# What a format row shares with its case's results.csv row: the case, the seed, the machine.
FORMAT_IDENTITY = (
    *("case_id", "arch", "regime", "dataset", "seed", "profile", "case_key"),
    *("device", "device_name", "fingerprint", *FINGERPRINT_FIELDS, "suite_version"),
)
FORMAT_COLUMNS = [
    *("case_id", "arch", "regime", "dataset", "seed", "profile", "case_key"),
    *("format", "runtime", "runtime_version", "quantised", "status", "error", "path", "model_sha256"),
    *("runtime_threads", "file_mb", "export_seconds", "load_seconds"),
    *("latency_p50_ms", "latency_p50_ci_low_ms", "latency_p50_ci_high_ms", "latency_p90_ms"),
    *("latency_p90_ci_low_ms", "latency_p90_ci_high_ms", "latency_p99_ms"),
    *("latency_mean_ms", "latency_std_ms", "latency_n", "throughput_ips", "throughput_batch", "batches_accepted"),
    *("test_accuracy", "test_images", "keras_test_accuracy", "accuracy_change_points"),
    *("top1_agreement", "max_abs_prob_diff", "speedup_vs_keras"),
    *("device", "device_name", "fingerprint", *FINGERPRINT_FIELDS, "suite_version", "started_at", "finished_at"),
]
FORMATS = Table(
    file="formats.csv",
    columns=tuple(FORMAT_COLUMNS),
    keys=("case_key", "seed"),
    text_columns=(*TEXT_COLUMNS, "model_sha256"),
    row_name="format row",
)
FORMATS_FILE = FORMATS.file


def formats_path(results_dir: Path) -> Path:
    return FORMATS.path(results_dir)


def prepare_formats(results_dir: Path) -> Path:
    """``formats.csv`` with its header (refused if it has other columns), its half-written last row moved aside."""
    return FORMATS.prepare(results_dir)


def append_format_row(results_dir: Path, row: dict) -> None:
    """Appends one ``formats.csv`` row in a single write, as ``append_row`` does for ``results.csv``.

    The jobs of a run append these themselves (one format at a time, so a killed
    job keeps the formats it finished), while the run that started them holds the folder's lock.
    """
    FORMATS.append(results_dir, row)


def model_sha256(path: Path) -> str:
    """The first 12 hex digits of the SHA-256 of the ``.keras`` file a case's formats are exported from."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:12]


def read_formats(results_dir: Path, *, every_attempt: bool = False) -> pd.DataFrame:
    """The stored ``formats.csv`` rows as a DataFrame (empty, with the columns, if none or no file).

    Unless ``every_attempt``, only the rows of each case key and seed's current model: the one its latest Keras
    row measured (``model_sha256``). Rows of a model a killed job left behind, before its case was retrained,
    stay in the file but are not read as results.
    """
    frame = FORMATS.read(results_dir)
    return frame if every_attempt else current_model_rows(frame)


def current_model_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows whose ``model_sha256`` is that of the last Keras row of their case key and seed (all rows of a
    case key and seed without a Keras row, e.g. a job killed before its reference was measured, are dropped)."""
    keys = list(FORMATS.keys)
    keras = frame[frame["format"] == "keras"].drop_duplicates(keys, keep="last")
    current = keras.set_index(keys)["model_sha256"].rename("_current")
    joined = frame.join(current, on=keys)
    return frame[joined["_current"].eq(joined["model_sha256"])].reset_index(drop=True)
