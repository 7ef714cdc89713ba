"""The results folder: its layout, its lock, the tables a run appends to, and the files beside them.

``results/README.md`` documents every file and column. ``TABLES`` lists every append-only table
(``suite.storage.table.Table``) that ``prepare`` sets up; a new table is one ``Table`` and one entry here.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from suite.errors import SuiteError
from suite.storage.formats import FORMATS
from suite.storage.results import RESULTS
from suite.storage.table import Table

TABLES: tuple[Table, ...] = (RESULTS, FORMATS)  # prepared in this order: results.csv is refused first
FOLDERS = (
    *("models", "history", "errors", "charts", "latency", "throughput", "logs", "tuning", "tensorboard", "deploy"),
    "predictions",  # suite.storage.predictions: per-image test outcomes, for the paired accuracy test
    "rate_grid",  # suite.run.rate_grid: each grid rate's validation accuracy and the one chosen
)


def unwritable(results_dir: Path, reason: str) -> SuiteError:
    return SuiteError(f"--results {results_dir} can't be written ({reason}); choose another folder")


def prepare(results_dir: Path) -> Path:
    """Creates the folder layout and every table's header; refuses a table with other columns; returns the
    path of ``results.csv``.

    Call it while holding the folder's lock: it also moves aside a half-written
    last row of each table (``suite.storage.table.repair_tail``).
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
    for table in TABLES:
        table.prepare(results_dir)
    return RESULTS.path(results_dir)


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
