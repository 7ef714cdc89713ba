"""The tables' building blocks: ``Table``, text formatting, model row names and the architecture x regime pivot.

A ``Table`` holds a numeric ``frame`` (what the CSV gets, fractions and plain units as in ``results.csv``) and a
``display`` frame of formatted text (what the Markdown file and the HTML report show). Test accuracy is shown as
``mean [low, high]``, its 95% interval by the rule of ``suite.report.intervals``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from suite.report.intervals import interval_text, with_intervals
from suite.report.summary import model_label, regime_order


@dataclass(frozen=True, kw_only=True)
class Table:
    """One table of the report: numbers for the CSV, formatted text for Markdown and HTML."""

    name: str  # file stem under tables/
    title: str
    frame: pd.DataFrame
    display: pd.DataFrame
    note: str = ""  # how to read it, or why it is empty
    wrap: bool = False  # long text cells (errors) wrap on the page instead of running wide

    def to_markdown(self) -> str:
        # The display cells are already text ("+2.3", "1,234"): numparse would drop signs and separators.
        shown = self.display.rename(columns={"device_name": "device"})
        body = shown.to_markdown(index=False, disable_numparse=True) if not shown.empty else "_(empty)_"
        return f"## {self.title}\n\n{self.note + chr(10) + chr(10) if self.note else ''}{body}\n"

    def write(self, folder: Path) -> list[Path]:
        """``folder/<name>.csv`` and ``folder/<name>.md``."""
        folder.mkdir(parents=True, exist_ok=True)
        csv_path, md_path = folder / f"{self.name}.csv", folder / f"{self.name}.md"
        self.frame.to_csv(csv_path, index=False)
        md_path.write_text(self.to_markdown())
        return [csv_path, md_path]


# Formatting: text for people; the CSV keeps the numbers.


def number(value, digits: int = 2, unit: str = "") -> str:
    """A figure with ``digits`` significant decimals for small values, thousands separators for large ones."""
    if value is None or pd.isna(value):
        return ""
    text = f"{value:,.0f}" if abs(value) >= 100 else f"{value:.{digits}g}" if value else "0"
    return f"{text} {unit}".strip()


def millions(value) -> str:
    return "" if value is None or pd.isna(value) else f"{value / 1e6:.2f} M"


def facets(summary: pd.DataFrame) -> list[str]:
    """``dataset`` and ``device_name`` where the summary holds more than one of them: the columns kept apart."""
    return [c for c in ("dataset", "device_name") if c in summary and summary[c].nunique(dropna=False) > 1]


def with_models(summary: pd.DataFrame) -> pd.DataFrame:
    """The summary with a ``model`` column: the row name in architecture x regime tables.

    Two summary rows that would share a cell (the same case with other weights) get the weights in the name.
    """
    frame = summary.copy()
    labels = [model_label(c, a, r) for c, a, r in zip(frame["case_id"], frame["arch"], frame["regime"])]
    frame["model"] = pd.Series(labels, index=frame.index, dtype=object)
    clash = frame.duplicated([*facets(frame), "model", "regime"], keep=False)
    if clash.any():
        frame.loc[clash, "model"] = frame.loc[clash, "model"] + " [" + frame.loc[clash, "weights"].astype(str) + "]"
    return frame


def empty_table(name: str, title: str, note: str) -> Table:
    return Table(name=name, title=title, frame=pd.DataFrame(), display=pd.DataFrame(), note=note)


def accuracy_texts(frame: pd.DataFrame, prefix: str = "", suffix: str = "") -> list[str]:
    """``mean [low, high]`` (%) for each row of ``frame``, from its ``test_accuracy_mean``, std, seeds, test images.

    ``prefix``/``suffix`` pick one side's columns in a frame of two (``keras_``, ``_a``).
    """
    names = ("test_accuracy_mean", "test_accuracy_std", "seeds", "test_images")
    columns = {f"{prefix}{n}{suffix}": n for n in names if f"{prefix}{n}{suffix}" in frame}
    cases = with_intervals(frame[list(columns)].rename(columns=columns))
    return [
        interval_text(m, lo, hi)
        for m, lo, hi in zip(cases["test_accuracy_mean"], cases["accuracy_low"], cases["accuracy_high"])
    ]


def arch_regime(summary: pd.DataFrame, column: str) -> pd.DataFrame:
    """Rows: model (with any facets); columns: regimes in study order; cells: ``column`` of the summary."""
    frame = with_models(summary)
    index = [*facets(frame), "model"]
    pivot = frame.pivot_table(index=index, columns="regime", values=column, aggfunc="first", dropna=False)
    pivot = pivot.reindex(columns=regime_order(frame["regime"].unique()))
    pivot.columns.name = None
    return pivot.dropna(how="all")


def accuracy_cells(summary: pd.DataFrame) -> pd.DataFrame:
    """Architecture x regime of accuracy text with its interval (empty where the case did not run ok)."""
    text = summary.assign(accuracy_text=accuracy_texts(summary))
    return arch_regime(text, "accuracy_text").fillna("")
