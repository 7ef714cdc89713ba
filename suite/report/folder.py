"""A results folder as the report reads it: ``results.csv`` and the per-case side tables beside it.

A missing or unreadable side table is a gap, not a crash: the reader returns None and
records one line saying what is missing, which the report lists.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from suite import storage

HISTORY_COLUMNS = ("epoch", "loss", "accuracy")
THROUGHPUT_COLUMNS = ("xla", "batch", "images_per_s")


@dataclass(frozen=True, kw_only=True)
class ResultsFolder:
    """The stored results of one folder, read once, plus what the report could not find there."""

    path: Path
    results: pd.DataFrame
    gaps: list[str] = field(default_factory=list)  # one line per missing or unreadable side table

    @classmethod
    def read(cls, path: Path) -> ResultsFolder:
        """Reads ``path/results.csv`` (``SuiteError`` if there is none) with each row's per-image outcomes."""
        path = Path(path)
        return cls(path=path, results=storage.with_outcomes(storage.read_results(path), path))

    @property
    def ok(self) -> pd.DataFrame:
        return self.results[self.results["status"] == "ok"]

    @property
    def not_ok(self) -> pd.DataFrame:
        return self.results[self.results["status"] != "ok"]

    @property
    def name(self) -> str:
        return self.path.resolve().name

    def _side_table(self, folder: str, case_id: str, seed: int, needed: tuple[str, ...], what: str):
        path = storage.case_file(self.path, folder, case_id, seed, ".csv")
        where = f"{folder}/{path.name}"
        if not path.is_file():
            self._gap(f"{where} is missing: no {what} for {case_id} seed {seed}")
            return None
        try:
            frame = pd.read_csv(path)
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, OSError) as error:
            self._gap(f"{where} is unreadable ({type(error).__name__}): no {what} for {case_id} seed {seed}")
            return None
        missing = [c for c in needed if c not in frame]
        if missing or frame.empty:
            reason = f"lacks columns {', '.join(missing)}" if missing else "has no rows"
            self._gap(f"{where} {reason}: no {what} for {case_id} seed {seed}")
            return None
        return frame

    def _gap(self, line: str) -> None:
        if line not in self.gaps:
            self.gaps.append(line)

    def history(self, case_id: str, seed: int) -> pd.DataFrame | None:
        """The per-epoch history of one case and seed, or None (recorded as a gap)."""
        return self._side_table("history", case_id, int(seed), HISTORY_COLUMNS, "training curves")

    def throughput(self, case_id: str, seed: int) -> pd.DataFrame | None:
        """Every throughput point of one case and seed, or None (recorded as a gap)."""
        frame = self._side_table("throughput", case_id, int(seed), THROUGHPUT_COLUMNS, "throughput curve")
        if frame is not None:
            for flag in ("xla", "oom"):
                if flag in frame:
                    frame[flag] = frame[flag].astype(str).str.lower().eq("true")
        return frame

    def formats(self) -> pd.DataFrame | None:
        """Every ``formats.csv`` row, or None where the run deployed no format (there is no file)."""
        if not storage.formats_path(self.path).is_file():
            return None
        return storage.read_formats(self.path)

    def lap(self) -> pd.DataFrame | None:
        """The final lap's rows (``lap.csv``), or None where the run timed no lap."""
        return storage.read_lap(self.path)

    def serving(self) -> pd.DataFrame | None:
        """The latest serving rows (``serving.csv``), or None where the run served nothing (older folders)."""
        return storage.read_serving(self.path)

    def budgets(self) -> tuple[float, ...] | None:
        """The folder's latency budgets in ms (``budgets.json``), or None: the report's ladder."""
        return storage.read_budgets(self.path)

    def traceback(self, case_id: str, seed: int, lines: int = 12) -> str:
        """The last ``lines`` lines of a failed case's stored traceback ("" if there is none)."""
        path = storage.case_file(self.path, "errors", case_id, int(seed), ".txt")
        try:
            return "\n".join(path.read_text(errors="replace").rstrip().splitlines()[-lines:])
        except OSError:
            return ""

    def throughput_points(self) -> pd.DataFrame:
        """Every ok case's throughput points with the row's ``arch``, ``image_size`` and ``device_name`` beside them.

        Side tables are named by case and seed only, so a case run on two devices left the file of the later run:
        it is attributed to the ok row that finished last.
        """
        frames = []
        timed = self.ok[self.ok["latency_p50_ms"].notna()] if "latency_p50_ms" in self.ok else self.ok
        owners = timed.sort_values("finished_at", na_position="first").drop_duplicates(
            ["case_id", "seed"], keep="last"
        )  # a seed after the timed ones (MeasureBudget.timed_seeds) wrote no throughput curve
        for _, row in owners.sort_values(["case_id", "seed"]).iterrows():
            points = self.throughput(row["case_id"], row["seed"])
            if points is None:
                continue
            frames.append(
                points.assign(
                    case_id=row["case_id"],
                    seed=row["seed"],
                    arch=row["arch"],
                    dataset=row["dataset"],
                    image_size=row.get("image_size"),
                    device_name=row["device_name"],
                )
            )
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
