"""This machine's speed probes (``suite.measure.speed``), kept across runs in the cache, one file per fingerprint.

A probe is one median latency of the reference workload, with when and where it was taken (a job's exclusive
slot, or a final-lap process) and on how many threads. They outlive any results folder: a drift measured by
yesterday's runs widens today's intervals. Appended like a results table (``suite.storage.table``); only the
newest ``KEEP`` probes are read back, oldest first.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from suite.environment import cache_dir
from suite.storage.table import Table

SPEED_COLUMNS = ("at", "probe", "where", "threads", "folder", "p50_ms")
KEEP = 60  # the newest probes that count: about seven quick runs (7 timed jobs and one lap probe each)


def speed_table(fingerprint: str) -> Table:
    return Table(file=f"{fingerprint}.csv", columns=SPEED_COLUMNS, keys=(), row_name="speed probe")


def speed_dir() -> Path:
    return cache_dir() / "speed"


def append_probe(fingerprint: str, row: dict) -> None:
    """Appends one probe of the machine ``fingerprint`` names, stamped now; a cache that can't be written loses
    the probe, never the run."""
    table, folder = speed_table(fingerprint), speed_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        table.prepare(folder)
        table.append(folder, {**row, "at": datetime.now(UTC).isoformat(timespec="seconds")})
    except Exception:  # noqa: BLE001 - a full disk or a read-only cache costs the probe only
        return


def read_probes(fingerprint: str, probe: str) -> pd.DataFrame:
    """The newest ``KEEP`` probes of ``probe`` (the workload's name) on this machine; empty if there are none."""
    table = speed_table(fingerprint)
    try:
        frame = table.read(speed_dir())
    except Exception:  # noqa: BLE001 - an unreadable history is no history
        frame = pd.DataFrame(columns=list(SPEED_COLUMNS))
    frame = frame[frame["probe"] == probe] if len(frame) else frame
    return frame.tail(KEEP).reset_index(drop=True)
