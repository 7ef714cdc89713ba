"""The freeze-depth sweep: test accuracy from the whole backbone frozen to all of it fine-tuned, per model.

Only what was measured is drawn: a marker (with its accuracy's 95% interval) at each depth that ran, and a line
only between neighbours of the sweep (``suite.regimes.FREEZE_SWEEP``) that both ran, so no line crosses a depth
that did not run.
"""

from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from suite.regimes import FREEZE_SWEEP, REGIMES
from suite.report._figure import Style, finish, panels
from suite.report._format import with_models
from suite.report.intervals import with_intervals

SEGMENT_GID = "sweep:"  # prefix of the gid of each line drawn between two measured neighbours


def measured_runs(regimes: list[str]) -> list[list[str]]:
    """``regimes`` split into runs of sweep neighbours that all ran, in sweep order (``[[frozen, freeze75], ...]``)."""
    ran = [r for r in FREEZE_SWEEP if r in set(regimes)]
    runs: list[list[str]] = []
    for regime in ran:
        if runs and FREEZE_SWEEP.index(regime) == FREEZE_SWEEP.index(runs[-1][-1]) + 1:
            runs[-1].append(regime)
        else:
            runs.append([regime])
    return runs


def _model(axis, line: pd.DataFrame, colour, dash: str, model: str) -> None:
    """One model's markers with their intervals, and its segments between measured neighbours."""
    line = line.assign(frozen=line["regime"].map(lambda r: REGIMES[r].frozen_percent)).sort_values(
        "frozen", ascending=False
    )
    y = 100 * line["test_accuracy_mean"]
    yerr = [(y - 100 * line["accuracy_low"]).clip(lower=0), (100 * line["accuracy_high"] - y).clip(lower=0)]
    axis.errorbar(line["frozen"], y, yerr=yerr, color=colour, linestyle="none", marker="o", markersize=5,
                  capsize=2, label=model)  # fmt: skip
    at = dict(zip(line["regime"], zip(line["frozen"], y)))
    for run in measured_runs(list(line["regime"])):
        if len(run) > 1:
            xs, ys = zip(*(at[r] for r in run))
            axis.plot(xs, ys, color=colour, linestyle=dash, linewidth=1.3, gid=f"{SEGMENT_GID}{model}")


def freeze_depth_sweep(summary: pd.DataFrame, device: str, style: Style | None = None) -> Figure | None:
    """Test accuracy against the share of the pretrained backbone kept frozen, one marker series per model.

    The x axis runs from everything frozen (left) to everything fine-tuned (right); bars are the accuracy's
    95% interval. Models with fewer than two of the sweep's regimes are left out.
    """
    rows = summary[(summary["device_name"] == device) & summary["regime"].isin(FREEZE_SWEEP)]
    rows = with_intervals(with_models(rows.dropna(subset=["test_accuracy_mean"])))
    counts = rows.groupby(["dataset", "model"])["regime"].transform("nunique")
    rows = rows[counts >= 2]
    if rows.empty:
        return None
    style = style or Style.of(summary)
    datasets = sorted(rows["dataset"].unique())
    figure, axes = panels(len(datasets), width=5.5)
    models = sorted(rows["model"].unique())
    dashes = {m: ("-", "--", ":", "-.")[i % 4] for i, m in enumerate(models)}
    colour = {m: style.colours[rows[rows["model"] == m]["arch"].iloc[0]] for m in models}
    for axis, dataset in zip(axes, datasets):
        for model, line in rows[rows["dataset"] == dataset].groupby("model"):
            _model(axis, line, colour[model], dashes[model], model)
        axis.set_xlim(105, -5)
        axis.set_xticks([REGIMES[r].frozen_percent for r in FREEZE_SWEEP])
        axis.set_xticklabels([f"{REGIMES[r].frozen_percent}%\n{r}" for r in FREEZE_SWEEP], fontsize=8)
        axis.set_xlabel("backbone weight layers frozen (%)")
        axis.set_ylabel("test accuracy (%)")
        axis.set_title(dataset, fontsize=10)
        axis.grid(True, alpha=0.3)
    handles = [Line2D([], [], color=colour[m], linestyle=dashes[m], marker="o", label=m) for m in models]
    handles.append(Line2D([], [], color="0.2", marker="|", linestyle="-", linewidth=0.8, label="accuracy 95% interval"))
    handles.append(Line2D([], [], color="none", label="lines join measured neighbours only"))
    finish(figure, f"Freeze-depth sweep: test accuracy from frozen to fine-tuned\n{device}", handles)
    return figure
