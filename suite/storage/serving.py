"""``serving.csv``: serving under load (``suite.run.serve``), one row per MLPerf LoadGen run of a network and format.

A (network, format) served once gives a SingleStream row, an Offline row and one Server row per rate of the
search (``step`` 0, 1, ...); an entry that failed gives one row with its ``status`` and ``error``. The file follows
``results.csv``'s rules (``suite.storage.table``): one ``write`` per row under the folder's lock, a half row moved
aside, other columns refused. Every row of one serving step carries its ``session`` (the step's start), and
reading keeps, per network and format, the rows of its latest session only: an earlier session's rows stay in
the file, never rewritten. LoadGen's own logs are under ``serving/`` (``log_dir``).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from suite.environment import FINGERPRINT_FIELDS
from suite.storage.results import TEXT_COLUMNS
from suite.storage.table import Table

SERVING_FOLDER = "serving"  # LoadGen's summary and detail logs: serving/<network>-<format>/<session>/<scenario>/
SERVING_KEYS = ("device_name", "dataset", "arch", "image_size", "graph", "format")  # one network in one format
SERVING_COLUMNS = (
    *("device", "device_name", "dataset", "arch", "image_size", "graph", "network", "format", "runtime", "xla"),
    *("cases", "path", "session", "status", "error"),
    *("scenario", "step", "target_qps", "bound_ms", "within_bound", "loadgen_result", "loadgen_valid"),
    *("latency_p50_ms", "latency_p90_ms", "latency_p99_ms", "samples_per_s"),
    *("min_duration_s", "min_queries", "offline_batch", "log_dir"),
    *("fingerprint", *FINGERPRINT_FIELDS, "suite_version", "started_at", "finished_at"),
)
SERVING = Table(
    file="serving.csv",
    columns=SERVING_COLUMNS,
    keys=SERVING_KEYS,
    text_columns=(*(c for c in TEXT_COLUMNS if c in SERVING_COLUMNS), "graph", "cases", "session"),
    row_name="serving row",
)


def serving_path(results_dir: Path) -> Path:
    return SERVING.path(results_dir)


def prepare_serving(results_dir: Path) -> Path:
    """``serving.csv`` with its header (refused if it has other columns), its half-written last row moved aside."""
    return SERVING.prepare(results_dir)


def append_serving_row(results_dir: Path, row: dict) -> None:
    """Appends one ``serving.csv`` row in a single write, as ``append_row`` does for ``results.csv``."""
    SERVING.append(results_dir, row)


def read_serving(results_dir: Path, *, every_session: bool = False) -> pd.DataFrame | None:
    """The folder's serving rows, or None where it has none (no file, or a header only).

    Unless ``every_session``, only each network and format's latest session; ``cases`` split into tuples.
    """
    if not serving_path(results_dir).is_file():
        return None
    frame = SERVING.read(results_dir)
    if frame.empty:
        return None
    if not every_session:
        latest = frame.groupby(list(SERVING_KEYS), dropna=False)["session"].transform("max")
        frame = frame[frame["session"] == latest].reset_index(drop=True)
    for flag in ("within_bound", "loadgen_valid", "xla"):
        frame[flag] = frame[flag].astype(str).str.lower().eq("true")
    return frame.assign(cases=[tuple(str(c).split()) for c in frame["cases"].fillna("")])
