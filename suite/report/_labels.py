"""Point labels that do not overlap: each label tries offsets around its point, nearest first.

A label is placed at the first offset whose text box overlaps no label already
placed, no data marker and stays inside the axes; failing that, at the offset
that overlaps least. A thin leader line joins every label to its point. The
axes' limits and the figure's layout must be final before labels are placed
(text boxes are measured in display space).
"""

from __future__ import annotations

import math

from matplotlib.axes import Axes
from matplotlib.text import Annotation, Text
from matplotlib.transforms import Bbox

RADII = (14, 26, 40, 58, 80)  # offsets tried, in points from the marker
ANGLES = (35, -35, 145, -145, 90, -90, 0, 180)  # directions tried at each radius, in degrees
MARKER_PAD = 6  # half-size of the box kept free around each data marker, in pixels


def _overlap(a: Bbox, b: Bbox) -> float:
    width = min(a.x1, b.x1) - max(a.x0, b.x0)
    height = min(a.y1, b.y1) - max(a.y0, b.y0)
    return width * height if width > 0 and height > 0 else 0.0


def _outside(box: Bbox, frame: Bbox) -> float:
    """Area of ``box`` outside ``frame``."""
    return box.width * box.height - _overlap(box, frame)


def place_labels(
    axes: Axes,
    anchors: list[tuple[float, float]],
    texts: list[str],
    avoid: list[tuple[float, float]] = (),
    fontsize: float = 8,
) -> list[Annotation]:
    """Annotates each ``anchors[i]`` (data coordinates) with ``texts[i]``, avoiding overlaps; returns the labels.

    ``avoid`` lists further data points (every marker of the chart) that labels must not cover.
    """
    figure = axes.figure
    renderer = figure.canvas.get_renderer()
    frame = axes.get_window_extent(renderer)
    to_pixels = axes.transData.transform
    taken: list[Bbox] = []
    for x, y in [*avoid, *anchors]:
        px, py = to_pixels((x, y))
        if math.isfinite(px) and math.isfinite(py):
            taken.append(Bbox.from_extents(px - MARKER_PAD, py - MARKER_PAD, px + MARKER_PAD, py + MARKER_PAD))
    placed = []
    for (x, y), text in zip(anchors, texts):
        own = Bbox.from_extents(*(to_pixels((x, y)) - MARKER_PAD), *(to_pixels((x, y)) + MARKER_PAD))
        obstacles = [box for box in taken if box.bounds != own.bounds]
        best: tuple[float, tuple[float, float]] | None = None
        for radius in RADII:
            for angle in ANGLES:
                dx = radius * math.cos(math.radians(angle))
                dy = radius * math.sin(math.radians(angle))
                box = _text_box(axes, text, (x, y), (dx, dy), fontsize, renderer)
                cost = sum(_overlap(box, other) for other in obstacles) + 10 * _outside(box, frame)
                if best is None or cost < best[0]:
                    best = (cost, (dx, dy))
                if cost == 0:
                    break
            if best is not None and best[0] == 0:
                break
        dx, dy = best[1]
        label = axes.annotate(
            text,
            (x, y),
            xytext=(dx, dy),
            textcoords="offset points",
            fontsize=fontsize,
            ha=_align(dx, "left", "right", "center"),
            va=_align(dy, "bottom", "top", "center"),
            arrowprops=dict(arrowstyle="-", color="0.45", linewidth=0.6, shrinkA=0, shrinkB=3),
            bbox=dict(boxstyle="round,pad=0.15", facecolor="white", edgecolor="none", alpha=0.8),
            zorder=5,
        )
        taken.append(_text_extent(label, renderer))
        placed.append(label)
    return placed


def _text_extent(label: Annotation, renderer) -> Bbox:
    """The display box of a label's text alone (``Annotation.get_window_extent`` adds its leader line)."""
    label.update_positions(renderer)
    return Text.get_window_extent(label, renderer)


def _align(offset: float, positive: str, negative: str, zero: str) -> str:
    return positive if offset > 1e-6 else negative if offset < -1e-6 else zero


def _text_box(axes: Axes, text: str, xy, offset, fontsize: float, renderer) -> Bbox:
    """The display box the label would take at ``offset`` (points), measured with a throw-away annotation."""
    probe = axes.annotate(
        text,
        xy,
        xytext=offset,
        textcoords="offset points",
        fontsize=fontsize,
        ha=_align(offset[0], "left", "right", "center"),
        va=_align(offset[1], "bottom", "top", "center"),
        bbox=dict(boxstyle="round,pad=0.15"),
    )
    box = _text_extent(probe, renderer)
    probe.remove()
    return box
