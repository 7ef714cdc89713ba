"""``lap.csv``: the final timing lap, one row per network and format, timed side by side after every case trained.

A case's own latency (``results.csv``, ``formats.csv``) is measured in its job, minutes apart from the others, so
the load of each moment is baked into one network's figure. The lap (``suite.run.lap``) times every network and
deployed format of the folder again, interleaved in rounds, in a few fresh processes one after another; the report
reads its figures where it exists. Each run of the lap replaces the file whole: it describes the folder's models
as they are now.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from suite.environment import FINGERPRINT_FIELDS
from suite.storage.table import replace_whole, significant

LAP_FILE = "lap.csv"
LAP_COLUMNS = (
    *("device", "device_name", "dataset", "arch", "image_size", "graph", "network", "format", "runtime", "xla"),
    *("cases", "path", "processes", "rounds", "calls_per_round"),
    *("latency_p50_ms", "latency_p50_ci_low_ms", "latency_p50_ci_high_ms"),
    *("latency_p90_ms", "latency_p90_ci_low_ms", "latency_p90_ci_high_ms"),
    *("latency_p99_ms", "latency_mean_ms", "latency_std_ms", "latency_n", "p50_by_process_ms"),
    *("drift_sd", "drift_probes"),  # the machine's drift (suite.run.drift), joined to the intervals above
    *("fingerprint", *FINGERPRINT_FIELDS, "suite_version", "started_at", "finished_at"),
)


def lap_path(results_dir: Path) -> Path:
    return Path(results_dir) / LAP_FILE


def write_lap(results_dir: Path, rows: list[dict]) -> Path:
    """Writes ``lap.csv`` whole (a temporary file renamed over it): a reader sees the old lap or the new one."""
    path = lap_path(results_dir)
    frame = pd.DataFrame([{c: significant(row.get(c)) for c in LAP_COLUMNS} for row in rows], columns=LAP_COLUMNS)
    return replace_whole(path, frame.to_csv(index=False))


def read_lap(results_dir: Path) -> pd.DataFrame | None:
    """The folder's lap rows, or None where it has none (or an empty one); ``cases`` split into tuples."""
    path = lap_path(results_dir)
    if not path.is_file():
        return None
    texts = ("cases", "graph", "p50_by_process_ms", "fingerprint", *FINGERPRINT_FIELDS)
    frame = pd.read_csv(path, dtype={c: str for c in texts})
    if frame.empty:
        return None
    return frame.assign(cases=[tuple(str(c).split()) for c in frame["cases"].fillna("")])
