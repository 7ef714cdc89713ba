"""The report's charts, drawn with matplotlib from the summary and the stored side tables.

Every chart function returns a ``Figure`` (or None when there is nothing to draw)
so that tests can inspect it; ``save`` writes it as PNG and SVG and closes it.
Charts of measured speed come one per device, with one panel per dataset. Colour
stands for the architecture and marker shape for the regime, the same in every
chart of a report. Only Pareto-frontier cases are labelled, with labels placed
clear of each other and of the markers (``suite.report._labels``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib import ticker  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402

from suite.regimes import FREEZE_SWEEP, REGIMES  # noqa: E402
from suite.report._labels import place_labels  # noqa: E402
from suite.report.summary import pareto_front, point_label, regime_order  # noqa: E402
from suite.report.tables import with_models  # noqa: E402

# Presentation only (the order is ``regime_order``'s); a regime without a marker here takes a spare one.
REGIME_MARKERS = {"scratch": "o", "frozen": "s", "freeze75": "<", "freeze50": "^", "freeze25": "v", "finetune": "D"}
SPARE_MARKERS = ("P", "X", "*", "h", "p", ">")
LEGEND_RIGHT = 0.78  # share of the figure width left to the panels; the legend takes the rest


@dataclass(frozen=True)
class Metric:
    """An x axis of the accuracy charts."""

    column: str  # summary column
    label: str  # axis label, with its unit
    title: str  # what the chart plots accuracy against
    lower_is_better: bool
    scale: float = 1.0  # multiplies the column for display (params in millions)


METRICS = {
    "latency": Metric("latency_p50_ms", "latency p50 at batch 1 (ms, log scale)", "batch-1 latency p50", True),
    "throughput": Metric(
        "throughput_ips", "best throughput (images/s, log scale)", "throughput", lower_is_better=False
    ),
    "params": Metric("params", "parameters (millions, log scale)", "parameters", True, scale=1e-6),
    "flops": Metric("gflops_per_image", "GFLOPs per image (log scale)", "FLOPs", True),
}


class Style:
    """Colour per architecture and marker per regime, fixed for a whole report."""

    def __init__(self, archs, regimes):
        archs, regimes = sorted(set(archs)), regime_order(set(regimes))
        palette = plt.get_cmap("tab10" if len(archs) <= 10 else "tab20")
        self.colours = {a: palette(i % palette.N) for i, a in enumerate(archs)}
        spare = iter(SPARE_MARKERS * 4)
        self.markers = {r: REGIME_MARKERS.get(r) or next(spare) for r in regimes}

    @classmethod
    def of(cls, summary: pd.DataFrame) -> Style:
        return cls(summary.get("arch", []), summary.get("regime", []))

    def handles(self, archs, regimes) -> list[Line2D]:
        """Legend entries: a colour per architecture, a grey marker per regime."""
        entries = [Line2D([], [], color=self.colours[a], marker="o", linestyle="", label=a) for a in sorted(set(archs))]
        entries += [
            Line2D([], [], color="0.35", marker=self.markers[r], linestyle="", label=r)
            for r in regime_order(set(regimes))
        ]
        return entries


def slug(text: str) -> str:
    """A file-name-safe form of a device name: ``cpu: Intel Xeon x2`` -> ``cpu-intel-xeon-x2``."""
    return re.sub(r"[^a-z0-9]+", "-", str(text).lower()).strip("-") or "device"


def log_axis(axis, which: str = "x") -> None:
    """Log scale with plain-number tick labels (1, 2, 5, 10 rather than 10^0)."""
    getattr(axis, f"set_{which}scale")("log")
    target = axis.xaxis if which == "x" else axis.yaxis
    target.set_major_formatter(ticker.FuncFormatter(lambda value, _: f"{value:g}"))

    def minor(value: float, _) -> str:
        low, high = target.get_view_interval()
        text = f"{value:g}"
        if low > 0 and high / low < 12:  # within about a decade every minor tick gets its label
            return text
        return text if text.lstrip("0.")[:1] in ("2", "5") else ""

    target.set_minor_formatter(ticker.FuncFormatter(minor))


def panels(count: int, width: float = 6.5, height: float = 5.0):
    figure, axes = plt.subplots(1, count, figsize=(width * count / LEGEND_RIGHT, height), squeeze=False)
    return figure, list(axes[0])


def finish(figure: Figure, title: str, handles: list) -> None:
    """Title, legend at the right, and the final layout (before labels are placed)."""
    figure.suptitle(title, fontsize=11)
    figure.legend(handles=handles, loc="center left", bbox_to_anchor=(LEGEND_RIGHT, 0.5), fontsize=8, frameon=False)
    figure.tight_layout(rect=(0, 0, LEGEND_RIGHT, 1))


def accuracy_axis(axis, xlabel: str, dataset: str) -> None:
    """A panel of test accuracy against a log-scale ``xlabel``, titled by its dataset."""
    log_axis(axis)
    axis.set_xlabel(xlabel)
    axis.set_ylabel("test accuracy (%)")
    axis.set_title(dataset, fontsize=10)
    axis.grid(True, which="both", alpha=0.3)
    axis.margins(x=0.15, y=0.12)


def freeze_limits(axis) -> None:
    """Fixes the axis limits to what is drawn, so that labels placed next cannot move them."""
    axis.autoscale_view()
    axis.set_xlim(axis.get_xlim())
    axis.set_ylim(axis.get_ylim())


def _error_bars(axis, points: pd.DataFrame, style: Style, latency_ci: bool) -> None:
    """One marker per case at (``x``, ``y``): accuracy ± seed std and, if ``latency_ci``, the p50 95% interval."""
    for _, row in points.iterrows():
        xerr = None
        if latency_ci and pd.notna(row.get("latency_p50_ci_low_ms")):
            x = row["x"]
            xerr = [[max(x - row["latency_p50_ci_low_ms"], 0)], [max(row["latency_p50_ci_high_ms"] - x, 0)]]
        axis.errorbar(
            row["x"],
            row["y"],
            yerr=100 * row["test_accuracy_std"],
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


def _frontier(axis, points: pd.DataFrame, lower_x_is_better: bool) -> None:
    """The Pareto frontier of (``x``, ``y``) as a dashed staircase, its cases labelled clear of every marker."""
    front = pareto_front(points, "x", "y", lower_x_is_better=lower_x_is_better)
    freeze_limits(axis)
    where = "post" if lower_x_is_better else "pre"
    axis.step(front["x"], front["y"], where=where, color="0.4", linestyle="--", linewidth=1, zorder=0)
    place_labels(
        axis,
        list(zip(front["x"], front["y"])),
        [point_label(c, a, r) for c, a, r in zip(front["case_id"], front["arch"], front["regime"])],
        avoid=list(zip(points["x"], points["y"])),
    )


def accuracy_against(summary: pd.DataFrame, metric: str, device: str, style: Style | None = None) -> Figure | None:
    """Test accuracy against ``METRICS[metric]`` (log x) for one device, one panel per dataset.

    Error bars: the seed standard deviation of accuracy and, for latency, the 95% interval of p50.
    The Pareto frontier (better on both axes than every other case) is drawn as a dashed staircase, and only its
    cases are labelled.
    """
    spec = METRICS[metric]
    rows = summary[(summary["device_name"] == device)].dropna(subset=[spec.column, "test_accuracy_mean"])
    rows = rows[rows[spec.column] > 0]
    if rows.empty:
        return None
    style = style or Style.of(summary)
    datasets = sorted(rows["dataset"].unique())
    points = {
        dataset: with_models(rows[rows["dataset"] == dataset]).assign(
            x=lambda f: f[spec.column] * spec.scale, y=lambda f: 100 * f["test_accuracy_mean"]
        )
        for dataset in datasets
    }
    figure, axes = panels(len(datasets))
    for axis, dataset in zip(axes, datasets):
        _error_bars(axis, points[dataset], style, latency_ci=metric == "latency")
        accuracy_axis(axis, spec.label, dataset)
    handles = style.handles(rows["arch"], rows["regime"])
    handles.append(Line2D([], [], color="0.4", linestyle="--", label="Pareto frontier"))
    bars = "error bars: accuracy ± seed std" + ("\nand latency p50 95% CI" if metric == "latency" else "")
    handles.append(Line2D([], [], color="0.2", marker="|", linestyle="-", linewidth=0.8, label=bars))
    finish(figure, f"Test accuracy against {spec.title}\n{device}", handles)
    for axis, dataset in zip(axes, datasets):
        _frontier(axis, points[dataset], spec.lower_is_better)
    return figure


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


def freeze_depth_sweep(summary: pd.DataFrame, device: str, style: Style | None = None) -> Figure | None:
    """Test accuracy against the share of the pretrained backbone kept frozen, one line per model.

    The x axis runs from everything frozen (left) to everything fine-tuned (right); error bars are the seed std.
    Models with fewer than two of the sweep's regimes are left out.
    """
    rows = summary[(summary["device_name"] == device) & summary["regime"].isin(FREEZE_SWEEP)]
    rows = with_models(rows.dropna(subset=["test_accuracy_mean"]))
    counts = rows.groupby(["dataset", "model"])["regime"].transform("nunique")
    rows = rows[counts >= 2]
    if rows.empty:
        return None
    style = style or Style.of(summary)
    datasets = sorted(rows["dataset"].unique())
    figure, axes = panels(len(datasets), width=5.5)
    models = sorted(rows["model"].unique())
    dashes = {m: ("-", "--", ":", "-.")[i % 4] for i, m in enumerate(models)}
    for axis, dataset in zip(axes, datasets):
        for model, line in rows[rows["dataset"] == dataset].groupby("model"):
            frozen = line["regime"].map(lambda r: REGIMES[r].frozen_percent)
            line = line.assign(frozen=frozen).sort_values("frozen", ascending=False)
            axis.errorbar(
                line["frozen"],
                100 * line["test_accuracy_mean"],
                yerr=100 * line["test_accuracy_std"],
                color=style.colours[line["arch"].iloc[0]],
                linestyle=dashes[model],
                marker="o",
                markersize=5,
                capsize=2,
                label=model,
            )
        axis.set_xlim(105, -5)
        axis.set_xticks([REGIMES[r].frozen_percent for r in FREEZE_SWEEP])
        axis.set_xticklabels([f"{REGIMES[r].frozen_percent}%\n{r}" for r in FREEZE_SWEEP], fontsize=8)
        axis.set_xlabel("backbone weight layers frozen (%)")
        axis.set_ylabel("test accuracy (%)")
        axis.set_title(dataset, fontsize=10)
        axis.grid(True, alpha=0.3)
    handles = [
        Line2D([], [], color=style.colours[rows[rows["model"] == m]["arch"].iloc[0]], linestyle=dashes[m], label=m)
        for m in models
    ]
    handles.append(Line2D([], [], color="0.2", marker="|", linestyle="-", linewidth=0.8, label="± seed std"))
    finish(figure, f"Freeze-depth sweep: test accuracy from frozen to fine-tuned\n{device}", handles)
    return figure


def save(figure: Figure, stem: Path, dpi: int = 110) -> list[Path]:
    """Writes ``stem.png`` and ``stem.svg`` and closes the figure."""
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = [stem.parent / f"{stem.name}.png", stem.parent / f"{stem.name}.svg"]  # case ids contain dots
    try:
        # The canvas grows or shrinks to what was drawn (the legend included), measured once for both files;
        # positions stay as laid out, so placed labels keep clear of each other.
        tight = figure.get_tightbbox(figure.canvas.get_renderer()).padded(0.15)
        figure.savefig(paths[0], dpi=dpi, bbox_inches=tight)
        with matplotlib.rc_context({"svg.fonttype": "none"}):  # text stays text: smaller, faster, searchable
            figure.savefig(paths[1], bbox_inches=tight)
    finally:
        plt.close(figure)
    return paths
