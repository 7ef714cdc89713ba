"""The charts' shared plumbing: style (colour per architecture, marker per regime), axes, layout and saving.

Every chart module (``charts``, ``accuracy_chart``, ``sweep_chart``, ``compare``) draws with these, so that the
charts of one report look alike.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib import ticker  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402

from suite.report.summary import regime_order  # noqa: E402

# Presentation only (the order is ``regime_order``'s); a regime without a marker here takes a spare one.
REGIME_MARKERS = {"scratch": "o", "frozen": "s", "freeze75": "<", "freeze50": "^", "freeze25": "v", "finetune": "D"}
SPARE_MARKERS = ("P", "X", "*", "h", "p", ">")
LEGEND_RIGHT = 0.78  # share of the figure width left to the panels; the legend takes the rest


@dataclass(frozen=True, kw_only=True)
class Metric:
    """An x axis of the accuracy charts."""

    column: str  # summary column
    label: str  # axis label, with its unit
    title: str  # what the chart plots accuracy against
    lower_is_better: bool
    scale: float = 1.0  # multiplies the column for display (params in millions)


METRICS = {
    "latency": Metric(
        column="latency_p50_ms",
        label="latency p50 at batch 1 (ms, log scale)",
        title="batch-1 latency p50",
        lower_is_better=True,
    ),
    "throughput": Metric(
        column="throughput_ips",
        label="throughput (images/s, log scale): LoadGen Offline where served, else the best timed block",
        title="throughput",
        lower_is_better=False,
    ),
    "params": Metric(
        column="params", label="parameters (millions, log scale)", title="parameters", lower_is_better=True, scale=1e-6
    ),
    "flops": Metric(
        column="gflops_per_image", label="GFLOPs per image (log scale)", title="FLOPs", lower_is_better=True
    ),
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
