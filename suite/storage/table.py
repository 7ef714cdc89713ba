"""One append-only CSV table of a results folder, described by its schema: the rules every such table follows.

Rows are flat, with units in the column names. Only the process holding the folder's lock (or the jobs of the
run that holds it) appends, one row per ``write`` call followed by ``fsync``; a write that fails (a full disk) is
cut back to the last whole row, and a half row left by a ``kill -9`` mid-write is moved aside before the next
append. Rows already written are never rewritten, and a file with other columns than the schema's is refused.
"""

from __future__ import annotations

import csv
import errno
import io
import logging
import math
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from suite.errors import SuiteError

log = logging.getLogger(__name__)

# Where the rest of the disk-full family lands: no space, over quota, over the file-size limit.
NO_SPACE = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
SIGNIFICANT_DIGITS = 6  # what a stored float keeps: enough for any measured figure, never its magnitude's victim
ASIDE_FOLDER = "errors"  # where a half-written last row is moved


@dataclass(frozen=True, kw_only=True)
class Table:
    """A CSV file of a results folder: its name, its columns in order, and how to read and append them.

    ``keys`` name the job a row belongs to (what a rerun resumes by); ``text_columns`` are read as text even
    where a value looks like a number (a hex digest of digits only, a version "12.0"); ``row_name`` is how an
    error names one of its rows.
    """

    file: str
    columns: tuple[str, ...]
    keys: tuple[str, ...]
    text_columns: tuple[str, ...] = ()
    row_name: str = "row"

    def path(self, results_dir: Path) -> Path:
        return Path(results_dir) / self.file

    def prepare(self, results_dir: Path) -> Path:
        """Writes the header of a new or empty file; refuses one with other columns, and moves aside a
        half-written last row (``repair_tail``) of one with these. Call it under the folder's lock."""
        path = self.path(results_dir)
        if path.exists() and path.stat().st_size:
            with path.open(newline="") as handle:
                header = next(csv.reader(handle), [])
            if header != list(self.columns):
                raise SuiteError(
                    f"{path} has other columns than this suite version writes; choose a new --results folder "
                    "(existing results are left untouched)"
                )
            repair_tail(results_dir, self.file)
        else:
            append_whole(path, csv_line(self.columns))
        return path

    def append(self, results_dir: Path, row: dict) -> None:
        """Appends one row in a single write; unknown keys are an error, missing ones stay empty."""
        unknown = set(row) - set(self.columns)
        if unknown:
            raise ValueError(f"{self.row_name} has columns the schema lacks: {sorted(unknown)}")
        values = ["" if row.get(c) is None else significant(row.get(c)) for c in self.columns]
        append_whole(self.path(results_dir), csv_line(values))

    def read(self, results_dir: Path) -> pd.DataFrame:
        """Every whole row as a DataFrame (empty, with the columns, if none or no file); text columns read as
        text, their empty cells as "". A half-written last row (a kill mid-write) is not a row."""
        path = self.path(results_dir)
        data = path.read_bytes() if path.is_file() else b""
        whole = data[: data.rfind(b"\n") + 1]
        if whole.count(b"\n") < 2:
            return pd.DataFrame(columns=list(self.columns))
        frame = pd.read_csv(io.BytesIO(whole), keep_default_na=True, dtype={c: str for c in self.text_columns})
        for column in self.text_columns:
            if column in frame:
                frame[column] = frame[column].fillna("")
        return frame


def repair_tail(results_dir: Path, name: str) -> int:
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
    aside = Path(results_dir) / ASIDE_FOLDER / f"partial-row-{Path(name).stem}-{stamp}.txt"
    aside.write_bytes(data[cut:])
    with path.open("r+b") as handle:
        handle.truncate(cut)
        os.fsync(handle.fileno())
    log.warning("%s ended in a half-written row (%d bytes); moved it to %s", name, len(data) - cut, aside)
    return len(data) - cut


def csv_line(values: list | tuple) -> str:
    """One CSV row, quoted as ``csv`` quotes it, ending in a newline."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(values)
    return buffer.getvalue()


def replace_whole(path: Path, text: str) -> Path:
    """Writes ``text`` to a temporary file beside ``path`` and renames it over ``path``: a reader sees the old file
    or the new one, never half of one (``budgets.json``, ``lap.csv``)."""
    temporary = path.with_name(f".{path.name}.tmp")
    try:
        temporary.write_text(text)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return path


def append_whole(path: Path, text: str) -> None:
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


def significant(value):
    """``value`` with ``SIGNIFICANT_DIGITS`` significant figures if it is a float (0.000221 stays 0.000221)."""
    if isinstance(value, float) and math.isfinite(value):
        return float(f"{value:.{SIGNIFICANT_DIGITS}g}")
    return value
