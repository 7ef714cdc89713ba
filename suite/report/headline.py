"""The report's headline: the suite's question, the answer the rows support, and what that answer rests on.

One ``Headline`` is shown at the top of ``report.html`` and written as ``summary.md`` beside it, so the two
say the same. It holds the accuracy-against-latency front (``suite.report.front``), the most accurate case
under a few latency budgets the data spans, and the caveats of ``suite.report.caveats``.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field

import pandas as pd

from suite.report.caveats import caveats
from suite.report.deployed import SHIP_NOTE, ship_frame
from suite.report.front import best_under_budgets, budget_columns, crowned, latency_front, winner_text
from suite.report.intervals import interval_text
from suite.report.lap import lap_caveat, with_lap
from suite.report.summary import per_case

QUESTION = "Which classifier, trained which way, gives the best accuracy for the latency you can afford?"
FRONT_NOTE = (
    "Accuracy against batch-1 latency p50, per device and dataset. A case is left off only if another is more "
    "accurate by the paired test (same seeds, same test images) and clearly faster (its network's latency band "
    "lies wholly below) or is the same network; networks whose bands overlap are tied, not ranked. Accuracy: mean "
    "over seeds with its 95% interval (training variance and test sampling); latency: the case's p50 with its 95% "
    "rerun interval, and the band its network's regimes share, which leaves out the machine's drift that every "
    "network of one final lap shares (the caveats give it)."
)
BUDGET_NOTE = (
    "The most accurate case whose latency p90 at batch 1 is within each budget: its p90's 95% interval lies wholly "
    "at or below it; a case whose interval straddles the budget is named at the edge, not dropped. Budgets: the "
    "run's --budgets or its profile's, else the fixed ladder 1, 2, 5, 10, 20, 50 ... ms over the measured range, so "
    "that two runs are asked the same question. Where the paired accuracy test (same seeds, same test images) "
    "cannot place another case within the budget below the most accurate one, the answer is 'tied' and names them "
    "all; a case measured with one seed is shown but not crowned, as its interval leaves training variance out."
)

SHIP_HEADING = "What to ship: deployed formats within a latency budget"
SHIP_EMPTY = "No deployed format ran ok with a latency p90."


def _ms(value) -> str:
    return "" if value is None or pd.isna(value) else f"{value:.3g}"


def front_frame(cases: pd.DataFrame) -> pd.DataFrame:
    """The front's cases as text: device, dataset, case, network, accuracy and latency with their intervals."""
    front = latency_front(cases)
    front = front[front["on_front"]]
    if front.empty:
        return pd.DataFrame()
    return pd.DataFrame(
        {
            "device": front["device_name"],
            "dataset": front["dataset"],
            "case": [
                case if crowned(row) else f"{case} (one seed: interval omits training variance)"
                for case, (_, row) in zip(front["case_id"], front.iterrows())
            ],
            "network": front["network"],
            "test accuracy % [95% CI]": [
                interval_text(m, lo, hi)
                for m, lo, hi in zip(front["test_accuracy_mean"], front["accuracy_low"], front["accuracy_high"])
            ],
            "latency p50 ms [95% CI]": [
                f"{_ms(p)} [{_ms(lo)}, {_ms(hi)}]" if pd.notna(lo) else _ms(p)
                for p, lo, hi in zip(
                    front["latency_p50_ms"], front["latency_p50_ci_low_ms"], front["latency_p50_ci_high_ms"]
                )
            ],
            "network band ms": [f"{_ms(lo)}–{_ms(hi)}" for lo, hi in zip(front["band_low_ms"], front["band_high_ms"])],
        }
    )


def p90_text(row: pd.Series) -> str:
    """``2.1 [1.9, 2.4]``: a row's p90 with its 95% interval where it has one."""
    low, high = row.get("latency_p90_ci_low_ms"), row.get("latency_p90_ci_high_ms")
    if low is None or high is None or pd.isna(low) or pd.isna(high):
        return _ms(row["latency_p90_ms"])
    return f"{_ms(row['latency_p90_ms'])} [{_ms(low)}, {_ms(high)}]"


def budget_frame(cases: pd.DataFrame, budgets=None) -> pd.DataFrame:
    """The budget answers as text: device, dataset, budget, the best case, its accuracy and p90, ties.
    ``budgets``: the folder's (``budgets.json``), else the ladder."""
    best = best_under_budgets(cases, budgets)
    if best.empty:
        return pd.DataFrame()
    return pd.DataFrame(
        {
            **budget_columns(best, _ms),
            "most accurate case": [winner_text(row) for _, row in best.iterrows()],
            "test accuracy % [95% CI]": [
                interval_text(m, lo, hi)
                for m, lo, hi in zip(best["test_accuracy_mean"], best["accuracy_low"], best["accuracy_high"])
            ],
            "its p90 ms [95% CI]": [p90_text(row) for _, row in best.iterrows()],
            "tied": best["tied"].astype(int),
        }
    )


@dataclass(frozen=True, kw_only=True)
class Headline:
    """The question, the front and budget answers (text frames) and the caveats."""

    front: pd.DataFrame
    budgets: pd.DataFrame
    caveats: list[str] = field(default_factory=list)
    question: str = QUESTION
    ship: pd.DataFrame | None = None  # deployed formats within each budget; None where there is no formats.csv

    @classmethod
    def of(cls, results: pd.DataFrame, deployed: pd.DataFrame | None = None, budgets=None, lap=None) -> Headline:
        """Builds the headline from the stored rows (``per_case`` aggregates them, as the gate does) and, where
        the run deployed formats, their ``suite.report.deployed.per_format`` rows; ``budgets``: the folder's;
        ``lap``: its final lap, whose figures replace each case's own timing (``suite.report.lap``)."""
        cases = with_lap(per_case(results), lap)
        ship = ship_frame(deployed, budgets) if deployed is not None else None
        notes = [*caveats(results), lap_caveat(lap)]
        return cls(front=front_frame(cases), budgets=budget_frame(cases, budgets), caveats=notes, ship=ship)

    def to_markdown(self) -> str:
        """``summary.md``: the same content as the page's headline block."""
        parts = [f"# {self.question}", "", "## The answer: the accuracy-against-latency front", "", FRONT_NOTE, ""]
        parts.append(_markdown(self.front, "No ok case has both an accuracy and a latency."))
        parts += ["", "## Within a latency budget", "", BUDGET_NOTE, ""]
        parts.append(_markdown(self.budgets, "No ok case has a latency p90."))
        if self.ship is not None:
            parts += ["", f"## {SHIP_HEADING}", "", SHIP_NOTE, "", _markdown(self.ship, SHIP_EMPTY)]
        parts += ["", "## Caveats", ""]
        parts += [f"- {line}" for line in self.caveats] or ["- None found in the rows."]
        return "\n".join(parts) + "\n"

    def to_html(self) -> str:
        """The ``<section id="headline">`` at the top of ``report.html``."""
        parts = [
            '<section id="headline"><h2 id="answer">The answer</h2>',
            f'<p class="question"><strong>{html.escape(self.question)}</strong></p>',
            f'<h3>Accuracy-against-latency front</h3><p class="note">{html.escape(FRONT_NOTE)}</p>',
            _html(self.front, "No ok case has both an accuracy and a latency."),
            f'<h3>Within a latency budget</h3><p class="note">{html.escape(BUDGET_NOTE)}</p>',
            _html(self.budgets, "No ok case has a latency p90."),
            *self._ship_html(),
            '<h3>Caveats</h3><ul class="caveats">',
            *(f"<li>{html.escape(line)}</li>" for line in self.caveats or ["None found in the rows."]),
            "</ul></section>",
        ]
        return "\n".join(parts)

    def _ship_html(self) -> list[str]:
        if self.ship is None:
            return []
        return [f'<h3>{SHIP_HEADING}</h3><p class="note">{html.escape(SHIP_NOTE)}</p>', _html(self.ship, SHIP_EMPTY)]


def _markdown(frame: pd.DataFrame, empty: str) -> str:
    return frame.to_markdown(index=False, disable_numparse=True) if not frame.empty else f"_{empty}_"


def _html(frame: pd.DataFrame, empty: str) -> str:
    if frame.empty:
        return f'<p class="empty">{html.escape(empty)}</p>'
    rows = frame.to_html(index=False, classes="data", border=0, na_rep="", escape=True)
    return f'<div class="scroll">{rows}</div>'
