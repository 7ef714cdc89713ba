"""Test accuracy against batch-1 latency of every deployed format: one chart per device, a panel per dataset.

Each case's Keras point is joined by an arrow to each of its formats, so the chart reads as "what converting
this model did to its speed and accuracy". Colour stands for the architecture (as in every chart of the report),
marker shape for the format.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from suite.report._figure import Style, accuracy_axis, finish, freeze_limits, panels, slug
from suite.report.deployed import KERAS

HEADING = "Deployed formats: accuracy against latency"
ARROW_GID = "format-arrow"  # gid of each Keras-to-format arrow (tests count them by it)
FORMAT_MARKERS = {  # presentation only; a format not named here takes a spare marker
    "keras": "o", "saved_model": "s", "litert_fp32": "^", "litert_fp16": "v", "litert_dynamic_int8": "<",
    "litert_int8": ">", "onnx": "D", "openvino": "P",
}  # fmt: skip
SPARE_MARKERS = ("X", "*", "h", "p", "d")
CAPTION = (
    "Each point is one case in one deployed format at its batch-1 latency p50 (median over seeds) and its test "
    "accuracy (mean over seeds), both measured from the exported file on its own runtime; an arrow runs from the "
    "case's Keras model to each of its formats (left: faster, down: less accurate). Colour: architecture; "
    "marker: format."
)


def markers(formats) -> dict[str, str]:
    """A marker per format name: ``FORMAT_MARKERS``, then spares in sorted order."""
    spare = iter(SPARE_MARKERS * 4)
    return {f: FORMAT_MARKERS.get(f) or next(spare) for f in sorted(set(formats))}


def _case(axis, rows: pd.DataFrame, colour, shapes: dict[str, str]) -> None:
    """One case's points, and an arrow from its Keras point to each other format."""
    rows = rows.dropna(subset=["latency_p50_ms", "test_accuracy_mean"])
    for _, row in rows.iterrows():
        axis.plot(row["latency_p50_ms"], 100 * row["test_accuracy_mean"], linestyle="", marker=shapes[row["format"]],
                  color=colour, markersize=7, markeredgecolor="black", markeredgewidth=0.5, zorder=3)  # fmt: skip
    keras = rows[rows["format"] == KERAS]
    if keras.empty:
        return
    start = (keras["latency_p50_ms"].iloc[0], 100 * keras["test_accuracy_mean"].iloc[0])
    for _, row in rows[rows["format"] != KERAS].iterrows():
        arrow = axis.annotate(
            "",
            xy=(row["latency_p50_ms"], 100 * row["test_accuracy_mean"]),
            xytext=start,
            arrowprops={"arrowstyle": "->", "color": colour, "alpha": 0.6, "linewidth": 0.9, "shrinkB": 4},
        )
        arrow.set_gid(ARROW_GID)


def formats_chart(deployed: pd.DataFrame, device: str, style: Style | None = None) -> Figure | None:
    """Every case x format of ``device`` (``deployed.per_format`` rows), Keras-to-format arrows; None if none."""
    rows = deployed[deployed["device_name"] == device] if not deployed.empty else deployed
    if rows.empty:
        return None
    style = style or Style(rows["arch"], [])
    shapes = markers(rows["format"])
    datasets = sorted(rows["dataset"].unique())
    figure, axes = panels(len(datasets))
    for axis, dataset in zip(axes, datasets):
        for (_, arch), case in rows[rows["dataset"] == dataset].groupby(["case_id", "arch"]):
            _case(axis, case, style.colours.get(arch, "0.3"), shapes)
        accuracy_axis(axis, "latency p50 at batch 1 (ms, log scale)", dataset)
        freeze_limits(axis)
    handles = [Line2D([], [], color=style.colours.get(a, "0.3"), marker="o", linestyle="", label=a)
               for a in sorted(rows["arch"].unique())]  # fmt: skip
    handles += [Line2D([], [], color="0.35", marker=m, linestyle="", label=f) for f, m in shapes.items()]
    handles.append(Line2D([], [], color="0.35", marker=">", markersize=4, label="Keras → format"))
    finish(figure, f"Deployed formats: test accuracy against batch-1 latency p50\n{device}", handles)
    return figure


def draw(deployed: pd.DataFrame, chart_dir: Path, style: Style, add: Callable[..., None]) -> str:
    """Files one chart per device under ``HEADING`` through ``add(heading, stem, build, caption)``.

    Returns what the heading says when no format ran ok ("" when some did).
    """
    if deployed.empty:
        return "no format in formats.csv ran ok"
    devices = sorted(deployed["device_name"].dropna().unique())
    for device in devices:
        suffix = "" if len(devices) == 1 else f"-{slug(device)}"
        stem = chart_dir / f"formats_accuracy_vs_latency{suffix}"
        add(HEADING, stem, partial(formats_chart, deployed, device, style), CAPTION)
    return ""
