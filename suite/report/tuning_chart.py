"""The tuned cases' charts, from ``DIR/tuning/<case_id>/trials.csv`` alone: score by trial, and what mattered.

Per tuned case, ``score_by_trial`` draws each completed trial's score against its trial number, marks the
failed ones apart (they have no score) and the running best as a step line; ``importance_chart`` ranks the
searched hyperparameters. A search of a few trials cannot support a model of the score (fANOVA, SHAP), so the
measure is deliberately simple and named in the caption: for a numeric hyperparameter the absolute Spearman rank
correlation of its values with the score over the completed trials, for a categorical one the spread (max - min)
of the mean score per value. Under ``MIN_COMPLETED`` completed trials there is no importance chart, and the score
chart's caption says why.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from scipy import stats

from suite.report._figure import finish, panels

HEADING = "Tuned cases"
TRIALS = "tuning/*/trials.csv"  # written by suite.tuning.search.write_trials_table
NEEDED = ("trial", "status", "score")
MIN_COMPLETED = 4  # fewer completed trials: no importance chart
HP_PREFIX, BOOKKEEPING = "hp_", "hp_tuner_"  # Hyperband's epochs, bracket and round are the budget, not a choice
FAILED_GID, BEST_GID = "failed", "running-best"  # gids of the failed trials' markers and of the running-best line
SPEARMAN, SPREAD = "|Spearman ρ| with the score", "spread of mean score per value"

CAPTIONS = {
    "score": (
        "Each dot is one completed trial's score (validation accuracy, minus 1 over a latency budget) in the order "
        "the trials started, a cross at the bottom a failed or unfinished trial (no score), and the step line the "
        "best score so far."
    ),
    "importance": (
        "Each bar is one searched hyperparameter over the {n} completed trials: numeric ones by the absolute "
        "Spearman rank correlation of their values with the score (0: none, 1: monotonic), categorical ones by "
        "the spread (max - min) of the mean score per value; with so few trials a ranking is a hint, not a "
        "measurement."
    ),
}


def read_trials(results_dir: Path, gaps: list[str]) -> dict[str, pd.DataFrame]:
    """Every tuned case's trials table by case id; an unreadable or incomplete one is a line in ``gaps``."""
    tables = {}
    for path in sorted(Path(results_dir).glob(TRIALS)):
        where = f"tuning/{path.parent.name}/{path.name}"
        try:
            frame = pd.read_csv(path)
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, OSError) as error:
            gaps.append(f"{where} is unreadable ({type(error).__name__}): no tuning charts for {path.parent.name}")
            continue
        missing = [c for c in NEEDED if c not in frame]
        if missing or frame.empty:
            reason = f"lacks columns {', '.join(missing)}" if missing else "has no rows"
            gaps.append(f"{where} {reason}: no tuning charts for {path.parent.name}")
            continue
        tables[path.parent.name] = frame
    return tables


def completed(trials: pd.DataFrame) -> pd.DataFrame:
    """The trials that finished with a score."""
    return trials[(trials["status"] == "COMPLETED") & trials["score"].notna()]


def _searches(trials: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    """One ``(label, trials in start order)`` per search (a case searched with two seeds or spaces has two)."""
    keys = [c for c in ("seed", "search") if c in trials]
    groups = trials.groupby(keys, dropna=False, sort=True) if keys else [((), trials)]
    out = []
    for key, group in groups:
        key = key if isinstance(key, tuple) else (key,)
        label = ", ".join(f"{k} {str(v)[:8]}" for k, v in zip(keys, key))
        out.append((label or "search", group.sort_values("trial")))
    return out


def running_best(trials: pd.DataFrame) -> pd.Series:
    """The best score so far at each completed trial, indexed by trial number (one search's trials)."""
    done = completed(trials).sort_values("trial")
    return pd.Series(done["score"].cummax().to_numpy(), index=done["trial"].to_numpy())


def score_by_trial(trials: pd.DataFrame, case_id: str) -> Figure:
    """Score against trial number: completed trials as dots, failed ones as crosses, the running best as steps."""
    figure, (axis,) = panels(1, width=6.0, height=4.0)
    for index, (label, search) in enumerate(_searches(trials)):
        colour = f"C{index}"
        done, best = completed(search), running_best(search)
        axis.plot(done["trial"], done["score"], "o", color=colour, markersize=5)
        axis.step(best.index, best.to_numpy(), where="post", color=colour, gid=f"{BEST_GID}:{label}", label=label)
    failed = trials[~trials.index.isin(completed(trials).index)]
    if len(failed):  # no score to place them by: crosses on the x axis, in axis coordinates
        axis.plot(
            failed["trial"],
            [0.03] * len(failed),
            "x",
            color="red",
            transform=axis.get_xaxis_transform(),
            gid=FAILED_GID,
        )
    axis.set_xlabel("trial (KerasTuner's id, in start order)")
    axis.set_ylabel("score")
    axis.grid(True, alpha=0.3)
    handles = [
        Line2D([], [], color="0.3", marker="o", linestyle="", label="completed trial"),
        Line2D([], [], color="red", marker="x", linestyle="", label="failed or unfinished"),
        *[
            Line2D([], [], color=f"C{i}", label=f"best so far ({label})")
            for i, (label, _) in enumerate(_searches(trials))
        ],
    ]
    finish(figure, f"Score by trial\n{case_id}", handles)
    return figure


def searched(trials: pd.DataFrame) -> list[str]:
    """The hyperparameter columns of the table, Hyperband's bookkeeping left out."""
    return [c for c in trials if c.startswith(HP_PREFIX) and not c.startswith(BOOKKEEPING)]


def importance(trials: pd.DataFrame) -> pd.DataFrame:
    """Each varied hyperparameter's importance over the completed trials: ``hyperparameter``, ``measure``, ``value``.

    Numeric (bool aside): ``|Spearman ρ|`` of value against score. Otherwise: max - min of the mean score per
    value. A hyperparameter with one value among the completed trials is left out (nothing to compare).
    """
    done = completed(trials)
    rows = []
    for column in searched(done):
        pairs = done[[column, "score"]].dropna()
        if pairs[column].nunique() < 2:
            continue
        name = column.removeprefix(HP_PREFIX)
        values = pairs[column]
        if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
            rho = stats.spearmanr(values, pairs["score"]).statistic
            rows.append({"hyperparameter": name, "measure": SPEARMAN, "value": abs(float(rho))})
        else:
            means = pairs.groupby(values.astype(str))["score"].mean()
            rows.append({"hyperparameter": name, "measure": SPREAD, "value": float(means.max() - means.min())})
    frame = pd.DataFrame(rows, columns=["hyperparameter", "measure", "value"])
    return frame.sort_values(["measure", "value"], ascending=[True, False], ignore_index=True)


def why_no_importance(trials: pd.DataFrame) -> str:
    """Why a case gets no importance chart ("" when it gets one)."""
    count = len(completed(trials))
    if count < MIN_COMPLETED:
        return f"No importance chart: {count} completed trial(s), and a ranking needs at least {MIN_COMPLETED}."
    if importance(trials).empty:
        return "No importance chart: no hyperparameter took two values among the completed trials."
    return ""


def importance_chart(trials: pd.DataFrame, case_id: str) -> Figure | None:
    """Horizontal bars, one panel per measure; None when ``why_no_importance`` has a reason."""
    if why_no_importance(trials):
        return None
    ranks = importance(trials)
    measures = list(dict.fromkeys(ranks["measure"]))
    figure, axes = panels(len(measures), width=4.5, height=0.6 + 0.45 * ranks["measure"].value_counts().max())
    for axis, measure in zip(axes, measures):
        rows = ranks[ranks["measure"] == measure].iloc[::-1]  # the largest on top
        axis.barh(rows["hyperparameter"], rows["value"], color="C0", gid=f"importance:{measure}")
        axis.set_xlabel(measure)
        axis.set_xlim(0, 1 if measure == SPEARMAN else max(rows["value"].max() * 1.15, 1e-3))
        axis.grid(True, axis="x", alpha=0.3)
    finish(figure, f"Hyperparameter importance ({len(completed(trials))} completed trials)\n{case_id}", [])
    return figure


def draw(results_dir: Path, chart_dir: Path, gaps: list[str], add: Callable[..., None]) -> str:
    """Files every tuned case's charts under ``HEADING`` through ``add(heading, stem, build, caption)``.

    Returns what the heading says when no case has a readable trials table ("" when some has).
    """
    tables = read_trials(results_dir, gaps)
    for case_id, trials in tables.items():
        reason = why_no_importance(trials)
        caption = CAPTIONS["score"] + (f" {reason}" if reason else "")
        add(HEADING, chart_dir / f"{case_id}-score", partial(score_by_trial, trials, case_id), caption)
        if not reason:
            caption = CAPTIONS["importance"].format(n=len(completed(trials)))
            add(HEADING, chart_dir / f"{case_id}-importance", partial(importance_chart, trials, case_id), caption)
    return "" if tables else "no tuned case has a readable tuning/<case>/trials.csv"
