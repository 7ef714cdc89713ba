"""Test accuracy against a cost (latency, throughput, parameters, FLOPs): one chart per device, a panel per dataset.

Every marker carries its accuracy's 95% interval (``suite.report.intervals``). On the latency chart a case sits
at its network's latency (``suite.report.front``): the regimes of one network share one latency band, drawn as
the horizontal bar, and are joined by a vertical line; front cases are ringed and labelled, ties kept. The other
charts keep the plain Pareto staircase (those costs are exact, not measured with noise).
"""

from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from suite.report._figure import METRICS, Style, accuracy_axis, finish, freeze_limits, panels
from suite.report._format import with_models
from suite.report._labels import place_labels
from suite.report.front import latency_front
from suite.report.intervals import with_intervals
from suite.report.summary import pareto_front, point_label

FRONT_GID = "front"  # gid of the rings that mark front cases (tests find them by it)
NETWORK_GID = "network:"  # prefix of the gid of the line joining one network's regimes


def points_of(rows: pd.DataFrame, metric: str) -> pd.DataFrame:
    """The cases of one panel with ``x``, ``y`` (accuracy %), its interval ``y_low``/``y_high`` and x bounds.

    For latency, ``x`` is the network's median p50 and ``x_low``/``x_high`` its band; ``on_front`` follows the
    tied front. For the other metrics ``x`` is the column (scaled) and the front is the plain Pareto front.
    """
    spec = METRICS[metric]
    if metric == "latency":
        frame = with_models(latency_front(rows))
        frame = frame.assign(x=frame["network_ms"], x_low=frame["band_low_ms"], x_high=frame["band_high_ms"])
    else:
        frame = with_intervals(with_models(rows)).assign(x=lambda f: f[spec.column] * spec.scale)
        frame = frame.assign(x_low=frame["x"], x_high=frame["x"])
        front = pareto_front(frame, "x", "test_accuracy_mean", lower_x_is_better=spec.lower_is_better)
        frame["on_front"] = frame.index.isin(front.index)
    return frame.assign(
        y=100 * frame["test_accuracy_mean"], y_low=100 * frame["accuracy_low"], y_high=100 * frame["accuracy_high"]
    )


def _error_bars(axis, points: pd.DataFrame, style: Style) -> None:
    """One marker per case: the accuracy interval as the vertical bar, the latency band (if any) horizontal."""
    for _, row in points.iterrows():
        x, y = row["x"], row["y"]
        xerr = [[max(x - row["x_low"], 0)], [max(row["x_high"] - x, 0)]] if row["x_high"] > row["x_low"] else None
        yerr = [[max(y - row["y_low"], 0)], [max(row["y_high"] - y, 0)]] if pd.notna(row["y_low"]) else None
        axis.errorbar(
            x,
            y,
            yerr=yerr,
            xerr=xerr,
            fmt=style.markers[row["regime"]],
            color=style.colours[row["arch"]],
            markersize=7,
            markeredgecolor="black",
            markeredgewidth=0.5,
            elinewidth=0.8,
            capsize=2,
            alpha=0.9,
        )


def _networks(axis, points: pd.DataFrame, style: Style) -> None:
    """Joins the regimes of each network (same latency) with a vertical line in the architecture's colour."""
    for network, group in points.groupby("network"):
        if len(group) < 2:
            continue
        x = group["x"].iloc[0]
        axis.plot(
            [x, x],
            [group["y"].min(), group["y"].max()],
            color=style.colours[group["arch"].iloc[0]],
            linewidth=2.5,
            alpha=0.35,
            zorder=1,
            gid=f"{NETWORK_GID}{network}",
        )


def _front(axis, points: pd.DataFrame, metric: str) -> None:
    """Marks the front (rings on latency, a dashed staircase otherwise) and labels its cases clear of markers."""
    front = points[points["on_front"]].sort_values("x")
    freeze_limits(axis)
    if metric == "latency":
        axis.plot(front["x"], front["y"], linestyle="", marker="o", markersize=14, markerfacecolor="none",
                  markeredgecolor="0.25", markeredgewidth=1.0, zorder=4, gid=FRONT_GID)  # fmt: skip
    else:
        where = "post" if METRICS[metric].lower_is_better else "pre"
        axis.step(front["x"], front["y"], where=where, color="0.4", linestyle="--", linewidth=1, zorder=0)
    place_labels(
        axis,
        list(zip(front["x"], front["y"])),
        [point_label(c, a, r) for c, a, r in zip(front["case_id"], front["arch"], front["regime"])],
        avoid=list(zip(points["x"], points["y"])),
    )


def _legend(style: Style, rows: pd.DataFrame, metric: str) -> list:
    """Architectures, regimes, and what the front marks and the bars mean (as drawn)."""
    handles = style.handles(rows["arch"], rows["regime"])
    if metric == "latency":
        handles.append(Line2D([], [], color="0.25", marker="o", markersize=10, markerfacecolor="none", linestyle="",
                              label="on the front (ties kept)"))  # fmt: skip
        handles.append(Line2D([], [], color="0.5", linewidth=2.5, alpha=0.35, label="one network's regimes"))
        bars = "bars: accuracy 95% interval;\nnetwork's latency p50 band"
    else:
        handles.append(Line2D([], [], color="0.4", linestyle="--", label="Pareto frontier"))
        bars = "bars: accuracy 95% interval"
    handles.append(Line2D([], [], color="0.2", marker="|", linestyle="-", linewidth=0.8, label=bars))
    return handles


def accuracy_against(summary: pd.DataFrame, metric: str, device: str, style: Style | None = None) -> Figure | None:
    """Test accuracy against ``METRICS[metric]`` (log x) for one device, one panel per dataset (module docstring)."""
    spec = METRICS[metric]
    rows = summary[(summary["device_name"] == device)].dropna(subset=[spec.column, "test_accuracy_mean"])
    rows = rows[rows[spec.column] > 0]
    if rows.empty:
        return None
    style = style or Style.of(summary)
    datasets = sorted(rows["dataset"].unique())
    points = {dataset: points_of(rows[rows["dataset"] == dataset], metric) for dataset in datasets}
    figure, axes = panels(len(datasets))
    for axis, dataset in zip(axes, datasets):
        if metric == "latency":
            _networks(axis, points[dataset], style)
        _error_bars(axis, points[dataset], style)
        accuracy_axis(axis, spec.label, dataset)
    finish(figure, f"Test accuracy against {spec.title}\n{device}", _legend(style, rows, metric))
    for axis, dataset in zip(axes, datasets):
        _front(axis, points[dataset], metric)
    return figure
