"""The report's charts, drawn with matplotlib from the summary and the stored side tables.

Every chart function returns a ``Figure`` (or None when there is nothing to draw) so that tests can inspect it;
``save`` writes it as PNG and SVG and closes it. Charts of measured speed come one per device, with one panel per
dataset. Colour stands for the architecture and marker shape for the regime, the same in every chart of a report.
The accuracy charts are in ``accuracy_chart``, the freeze-depth sweep in ``sweep_chart`` and the shared plumbing
in ``_figure``; this module gathers them, draws the training and throughput curves, and holds each chart's
caption (``CAPTIONS``), which the page shows under the image.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib import ticker
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from suite.report._figure import (
    LEGEND_RIGHT,
    METRICS,
    Metric,
    Style,
    accuracy_axis,
    finish,
    freeze_limits,
    log_axis,
    panels,
    plt,
    save,
    slug,
)
from suite.report.accuracy_chart import accuracy_against
from suite.report.sweep_chart import freeze_depth_sweep

__all__ = [
    "CAPTIONS",
    "LEGEND_RIGHT",
    "METRICS",
    "Figure",
    "Metric",
    "Style",
    "accuracy_against",
    "accuracy_axis",
    "finish",
    "freeze_depth_sweep",
    "freeze_limits",
    "log_axis",
    "panels",
    "plt",
    "save",
    "slug",
    "throughput_vs_batch",
    "training_curves",
]

_BARS = "its vertical bar is the 95% interval of its test accuracy (Wilson, widened to the seeds' t-interval)"
CAPTIONS = {  # one sentence per chart: what a point is and what its bars mean
    "latency": (
        "Each point is one case (architecture × regime) at its network's median batch-1 latency p50; "
        f"{_BARS}, its horizontal bar the band of p50 95% intervals its network's regimes share, a vertical line "
        "joins one network's regimes, and rings mark the front (overlapping bands are ties)."
    ),
    "throughput": f"Each point is one case at its best batch-sweep throughput (median over seeds); {_BARS}.",
    "params": f"Each point is one case at its parameter count; {_BARS}.",
    "flops": f"Each point is one case at its FLOPs per image; {_BARS}.",
    "throughput_vs_batch": (
        "Each line is one network and execution mode (median over its cases and seeds at each batch size); the "
        "band is the range over those cases and seeds."
    ),
    "freeze_depth": (
        f"Each marker is one model at one freeze depth that ran; {_BARS}, and lines join only neighbouring "
        "depths that both ran."
    ),
    "training": (
        "Each line is one seed's per-epoch training (solid) or validation (dashed) loss or accuracy, as logged "
        "during training: curves, not estimates, so they carry no interval."
    ),
}


def training_curves(histories: dict[int, pd.DataFrame], case_id: str) -> Figure | None:
    """Loss and accuracy against epoch, train (solid) and validation (dashed), one colour per seed.

    Epochs are counted across phases (head, then fine-tuning); a dotted line marks where a phase starts.
    """
    histories = {seed: h for seed, h in sorted(histories.items()) if h is not None and not h.empty}
    if not histories:
        return None
    figure, (loss_axis, accuracy_axis) = plt.subplots(1, 2, figsize=(9, 3.6))
    palette = plt.get_cmap("tab10")
    for index, history in enumerate(histories.values()):
        epochs = np.arange(1, len(history) + 1)
        colour = palette(index % 10)
        for axis, metric, scale in ((loss_axis, "loss", 1), (accuracy_axis, "accuracy", 100)):
            axis.plot(epochs, scale * history[metric], color=colour, marker="o", markersize=3, linewidth=1.2)
            if f"val_{metric}" in history:
                axis.plot(
                    epochs, scale * history[f"val_{metric}"], color=colour, marker="o", markersize=3, linestyle="--"
                )
        if index == 0 and "phase" in history:
            starts = [i for i in range(1, len(history)) if history["phase"].iloc[i] != history["phase"].iloc[i - 1]]
            if starts:  # name the first phase too
                accuracy_axis.annotate(
                    f"{history['phase'].iloc[0]}",
                    (0, 1),
                    xycoords="axes fraction",
                    xytext=(3, -10),
                    textcoords="offset points",
                    fontsize=7,
                    color="0.35",
                )
            for start in starts:
                for axis in (loss_axis, accuracy_axis):
                    axis.axvline(start + 0.5, color="0.5", linestyle=":", linewidth=1)
                accuracy_axis.annotate(
                    f"{history['phase'].iloc[start]} →",
                    (start + 0.5, 1),
                    xycoords=("data", "axes fraction"),
                    xytext=(3, -10),
                    textcoords="offset points",
                    fontsize=7,
                    color="0.35",
                )
    loss_axis.set_ylabel("loss (cross-entropy)")
    accuracy_axis.set_ylabel("accuracy (%)")
    for axis in (loss_axis, accuracy_axis):
        axis.set_xlabel("epoch (all phases)")
        axis.xaxis.set_major_locator(ticker.MaxNLocator(integer=True))
        axis.grid(True, alpha=0.3)
    handles = [
        Line2D([], [], color="0.3", linestyle="-", label="train"),
        Line2D([], [], color="0.3", linestyle="--", label="validation"),
    ]
    handles += [Line2D([], [], color=palette(i % 10), label=f"seed {s}") for i, s in enumerate(histories)]
    figure.suptitle(f"{case_id}: training curves", fontsize=11)
    figure.legend(handles=handles, loc="center left", bbox_to_anchor=(0.86, 0.5), fontsize=8, frameon=False)
    figure.subplots_adjust(left=0.08, right=0.84, bottom=0.14, top=0.86, wspace=0.3)  # tight_layout costs a draw
    return figure


def throughput_vs_batch(points: pd.DataFrame, device: str, style: Style | None = None) -> Figure | None:
    """Throughput against batch size for one device, one line per architecture and execution mode.

    A line is the median over the architecture's cases and seeds (the regimes train different weights into
    the same network), the band their range; graph mode solid, XLA dashed. Float32 points only.
    """
    if points.empty or "device_name" not in points:
        return None
    rows = points[points["device_name"] == device]
    if "oom" in rows:
        rows = rows[~rows["oom"].astype(bool)]
    if "precision" in rows:
        rows = rows[rows["precision"].fillna("float32") == "float32"]
    rows = rows.dropna(subset=["images_per_s", "batch"])
    if rows.empty:
        return None
    style = style or Style(rows["arch"], [])
    sizes = rows.groupby("arch")["image_size"].nunique()
    rows["network"] = [
        f"{a} at {int(s)} px" if sizes.get(a, 1) > 1 and pd.notna(s) else a
        for a, s in zip(rows["arch"], rows["image_size"])
    ]
    networks = sorted(rows["network"].unique())
    # The same architecture at two input sizes: one colour, told apart by the marker.
    markers = {}
    for _, group in rows[["network", "arch"]].drop_duplicates().groupby("arch"):
        markers.update({n: "os^vD"[i % 5] for i, n in enumerate(sorted(group["network"]))})
    datasets = sorted(rows["dataset"].unique())
    figure, axes = panels(len(datasets), width=6.0)
    for axis, dataset in zip(axes, datasets):
        subset = rows[rows["dataset"] == dataset]
        curves = subset.groupby(["network", "arch", "xla", "batch"])["images_per_s"].agg(["median", "min", "max"])
        for (network, arch, xla), curve in curves.groupby(level=["network", "arch", "xla"]):
            batches = curve.index.get_level_values("batch")
            colour = style.colours.get(arch, "0.3")
            style_line = "--" if xla else "-"
            axis.plot(
                batches, curve["median"], color=colour, linestyle=style_line, marker=markers[network], markersize=4
            )
            axis.fill_between(batches, curve["min"], curve["max"], color=colour, alpha=0.12, linewidth=0)
        axis.set_xscale("log", base=2)
        axis.xaxis.set_major_formatter(ticker.FuncFormatter(lambda value, _: f"{value:g}"))
        log_axis(axis, "y")
        axis.set_xlabel("batch size (images, log scale)")
        axis.set_ylabel("throughput (images/s, log scale)")
        axis.set_title(dataset, fontsize=10)
        axis.grid(True, which="both", alpha=0.3)
    arch_of = dict(zip(rows["network"], rows["arch"]))
    handles = [
        Line2D([], [], color=style.colours.get(arch_of[n], "0.3"), marker=markers[n], linewidth=2, label=n)
        for n in networks
    ]
    handles += [
        Line2D([], [], color="0.3", linestyle="-", label="graph mode"),
        Line2D([], [], color="0.3", linestyle="--", label="XLA"),
        plt.Rectangle((0, 0), 1, 1, color="0.3", alpha=0.15, label="range over cases and seeds"),
    ]
    finish(figure, f"Throughput against batch size (float32)\n{device}", handles)
    return figure
