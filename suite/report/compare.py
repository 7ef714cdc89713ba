"""Two runs side by side: the cases both ran ok, their deltas, and which deltas exceed the noise.

A case is matched on ``case_id`` and ``device`` (``cpu``/``gpu``). Noise:

- accuracy: the suite's one test (``suite.stats``): B minus A, paired on the seeds and test images both runs kept
  (``predictions/``), with training variance and test sampling; a change is marked where its 95% interval
  leaves out 0. Runs without per-image outcomes are tested from their two intervals, unpaired;
- latency: the two runs' 95% intervals of p50 do not overlap;
- throughput: no noise estimate is stored, so its delta is shown but never marked.

Where the runs deployed formats (``formats.csv``), ``compare_formats`` sets those side by side too.

Runs measured under different machine fingerprints are refused unless ``force``.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from suite.environment import require_one_fingerprint
from suite.errors import SuiteError
from suite.report import charts
from suite.report._format import accuracy_texts
from suite.report._labels import place_labels
from suite.report.compare_formats import formats_table
from suite.report.flips import Flips, flips
from suite.report.folder import ResultsFolder
from suite.report.html import Image, page, table_html
from suite.report.intervals import difference, with_intervals
from suite.report.summary import by_case_and_device, per_case, point_label
from suite.report.tables import Table, environment_table, number
from suite.stats import Difference

FIGURES = [  # the per_case columns a comparison sets side by side
    "arch",
    "regime",
    "dataset",
    "device_name",
    "seeds",
    "test_accuracy_mean",
    "test_accuracy_std",
    "test_images",
    "latency_p50_ms",
    "latency_p50_ci_low_ms",
    "latency_p50_ci_high_ms",
    "throughput_ips",
    "outcomes",  # per-image outcomes by seed, for the paired test; never written out
]


CAPTION = (
    "Each point is one case in one run (A hollow, B filled) at its batch-1 latency p50, with an arrow from A to B; "
    "its vertical bar is that run's 95% accuracy interval (the seeds' t interval and the test images' Wilson "
    "interval, in quadrature)."
)


@dataclass(frozen=True, kw_only=True)
class Comparison:
    """Run A (the baseline) against run B."""

    a: ResultsFolder
    b: ResultsFolder
    frame: pd.DataFrame  # one row per case in both: figures of each run (suffix _a, _b), deltas, noise, flags
    only_a: list[str]  # case ids ok in A only ("case_id (device)" where the runs hold several devices)
    only_b: list[str]
    formats: Table | None = None  # both runs' deployed formats (compare_formats); None where neither has any
    flips: Flips = Flips()  # what flipped: front, budget picks, crossovers, accuracies outside intervals

    @property
    def names(self) -> tuple[str, str]:
        a, b = self.a.name, self.b.name
        return (a, b) if a != b else (str(self.a.path), str(self.b.path))

    def table(self) -> Table:
        """The side-by-side table: numbers for the CSV, text with ``*`` on deltas beyond the noise."""
        frame = self.frame
        name_a, name_b = self.names
        display = pd.DataFrame({"case": frame["case_id"]})
        if frame["device"].nunique() > 1:
            display["device"] = frame["device"]
        display["seeds A/B"] = [f"{a}/{b}" for a, b in zip(frame["seeds_a"], frame["seeds_b"])]
        for side in ("a", "b"):
            display[f"accuracy {side.upper()} % [95% CI]"] = accuracy_texts(frame, suffix=f"_{side}")
        display["Δ accuracy (points)"] = [
            _marked(f"{d:+.1f}", changed)
            for d, changed in zip(frame["accuracy_delta_points"], frame["accuracy_changed"])
        ]
        display["noise (± points)"] = [number(v, 2) if pd.notna(v) else "n/a" for v in frame["accuracy_noise_points"]]
        for side in ("a", "b"):
            display[f"latency p50 {side.upper()} (ms)"] = [number(v, 3) for v in frame[f"latency_p50_ms_{side}"]]
        display["Δ latency (%)"] = [
            _marked(f"{d:+.1f}" if pd.notna(d) else "", changed)
            for d, changed in zip(frame["latency_delta_percent"], frame["latency_changed"])
        ]
        for side in ("a", "b"):
            display[f"throughput {side.upper()} (images/s)"] = [number(v) for v in frame[f"throughput_ips_{side}"]]
        display["Δ throughput (%)"] = [f"{d:+.1f}" if pd.notna(d) else "" for d in frame["throughput_delta_percent"]]
        note = (
            f"A = {name_a}, B = {name_b}; Δ is B minus A (latency and throughput in % of A). * marks a change beyond "
            "the noise: for accuracy, where the 95% interval of B minus A leaves out 0 (the suite's one test: "
            "paired on the seeds and test images both runs kept; 'noise' is that interval's half-width); for "
            "latency, 95% intervals of p50 that do not overlap. Throughput has no "
            "stored noise estimate and is never marked."
        )
        return Table(name="compare", title=f"{name_a} → {name_b}", frame=frame, display=display, note=note)

    def to_text(self) -> str:
        """What ``suite compare`` prints: the table in Markdown, then the cases in one run only."""
        table = self.table()
        lines = [table.display.to_markdown(index=False, disable_numparse=True), "", table.note]
        if self.only_a:
            lines.append(f"Only in A ({len(self.only_a)}): {', '.join(self.only_a)}")
        if self.only_b:
            lines.append(f"Only in B ({len(self.only_b)}): {', '.join(self.only_b)}")
        if self.formats is not None:
            lines += ["", self.formats.to_markdown()]
        lines += ["", "## What flipped", "", self.flips.to_text()]
        return "\n".join(lines)


def _marked(text: str, changed) -> str:
    return f"{text} *" if text and pd.notna(changed) and bool(changed) else text


def accuracy_tests(frame: pd.DataFrame) -> list[Difference]:
    """B minus A for each row, by the suite's one test (``suite.report.intervals.difference``): paired on the
    seeds and test images both runs kept, else from the two intervals."""
    a, b = one_side(frame, "a"), one_side(frame, "b")
    return [difference(b.loc[i], a.loc[i]) for i in frame.index]


def one_side(frame: pd.DataFrame, side: str) -> pd.DataFrame:
    """One run's accuracy figures (``test_accuracy_mean``, std, seeds, test images) from a frame of both."""
    names = ("test_accuracy_mean", "test_accuracy_std", "seeds", "test_images", "outcomes")
    return pd.DataFrame({n: frame[f"{n}_{side}"] for n in names if f"{n}_{side}" in frame})


def deltas(frame: pd.DataFrame) -> pd.DataFrame:
    """Adds B-minus-A deltas, the accuracy noise and the ``accuracy_changed``/``latency_changed`` marks.

    ``frame`` has each run's figures with the suffixes ``_a`` and ``_b``; a mark is missing (NA) where
    the noise is unknown: no accuracy interval on a side, or no latency interval stored.
    """
    frame = frame.copy()
    frame["accuracy_delta_points"] = 100 * (frame["test_accuracy_mean_b"] - frame["test_accuracy_mean_a"])
    tests = accuracy_tests(frame)
    frame["accuracy_delta_low_points"] = [100 * t.low for t in tests]
    frame["accuracy_delta_high_points"] = [100 * t.high for t in tests]
    frame["accuracy_noise_points"] = [100 * max(t.mean - t.low, t.high - t.mean) for t in tests]
    frame["accuracy_paired"] = [t.paired for t in tests]
    changed = pd.Series([t.verdict != "tied" for t in tests], index=frame.index)
    frame["accuracy_changed"] = changed.where(frame["accuracy_noise_points"].notna()).astype("boolean")
    frame["latency_delta_percent"] = 100 * (frame["latency_p50_ms_b"] / frame["latency_p50_ms_a"] - 1)
    bounds = frame[
        ["latency_p50_ci_low_ms_a", "latency_p50_ci_high_ms_a", "latency_p50_ci_low_ms_b", "latency_p50_ci_high_ms_b"]
    ]
    apart = (frame["latency_p50_ci_low_ms_b"] > frame["latency_p50_ci_high_ms_a"]) | (
        frame["latency_p50_ci_high_ms_b"] < frame["latency_p50_ci_low_ms_a"]
    )
    frame["latency_changed"] = apart.where(bounds.notna().all(axis=1)).astype("boolean")
    frame["throughput_delta_percent"] = 100 * (frame["throughput_ips_b"] / frame["throughput_ips_a"] - 1)
    return frame


def compare_runs(run_a: Path, run_b: Path, force: bool = False) -> Comparison:
    """Matches the ok cases of ``run_a`` and ``run_b`` and computes deltas and noise (see the module docstring)."""
    a, b = ResultsFolder.read(run_a), ResultsFolder.read(run_b)
    require_one_fingerprint(pd.concat([a.ok, b.ok], ignore_index=True), force, f"{a.path} and {b.path}")
    left, right = (by_case_and_device(per_case(run.results), FIGURES) for run in (a, b))
    both = left.join(right, how="inner", lsuffix="_a", rsuffix="_b")
    several = len(set(left.index.get_level_values("device")) | set(right.index.get_level_values("device"))) > 1
    only_a, only_b = (
        sorted(f"{case} ({device})" if several else case for case, device in one.index.difference(other.index))
        for one, other in ((left, right), (right, left))
    )
    if both.empty:
        raise SuiteError(
            f"{a.path} and {b.path} have no case that ran ok in both (A: {len(left)} ok case(s), B: {len(right)}); "
            "compare two runs of the same cases"
        )
    frame = both.reset_index()
    for column in ("arch", "regime", "dataset"):
        frame[column] = frame.pop(f"{column}_a")
        frame.pop(f"{column}_b")
    frame = deltas(frame)
    frame = frame.sort_values(["dataset", "device", "arch", "case_id"]).reset_index(drop=True)
    return Comparison(
        a=a, b=b, frame=frame, only_a=only_a, only_b=only_b, formats=formats_table(a, b), flips=flips(a, b)
    )


def to_json(comparison: Comparison) -> dict:
    """The reproducibility summary for CI (``suite compare --json``): counts, every flip, the changed cases."""
    frame = comparison.frame
    return {
        "a": str(comparison.a.path),
        "b": str(comparison.b.path),
        "cases_compared": len(frame),
        "accuracy_changed": sorted(frame.loc[frame["accuracy_changed"].fillna(False).astype(bool), "case_id"]),
        "only_a": comparison.only_a,
        "only_b": comparison.only_b,
        "flips": comparison.flips.to_dict(),
    }


def chart(comparison: Comparison, device: str) -> charts.Figure | None:
    """Both runs on one accuracy-against-latency plane: A hollow, B filled, an arrow from A to B for each case.

    Each point's vertical bar is its run's 95% accuracy interval; cases whose accuracy or latency changed beyond
    the noise are labelled (at B).
    """
    frame = comparison.frame[comparison.frame["device"] == device].dropna(
        subset=["latency_p50_ms_a", "latency_p50_ms_b", "test_accuracy_mean_a", "test_accuracy_mean_b"]
    )
    if frame.empty:
        return None
    plt = charts.plt
    style = charts.Style(frame["arch"], frame["regime"])
    name_a, name_b = comparison.names
    datasets = sorted(frame["dataset"].unique())
    figure, axes = charts.panels(len(datasets))
    for axis, dataset in zip(axes, datasets):
        rows = frame[frame["dataset"] == dataset]
        bars = {side: with_intervals(one_side(rows, side)) for side in ("a", "b")}
        for index, row in rows.iterrows():
            colour, marker = style.colours[row["arch"]], style.markers[row["regime"]]
            start = (row["latency_p50_ms_a"], 100 * row["test_accuracy_mean_a"])
            end = (row["latency_p50_ms_b"], 100 * row["test_accuracy_mean_b"])
            yerr = {side: _yerr(bars[side].loc[index]) for side in bars}
            axis.errorbar(*start, yerr=yerr["a"], fmt=marker, markersize=7, markerfacecolor="white",
                          color=colour, elinewidth=0.7, capsize=2)  # fmt: skip
            axis.errorbar(*end, yerr=yerr["b"], fmt=marker, markersize=7, color=colour, markeredgecolor="black",
                          markeredgewidth=0.5, elinewidth=0.7, capsize=2)  # fmt: skip
            axis.annotate(
                "", end, start, arrowprops=dict(arrowstyle="->", color=colour, linewidth=1, shrinkA=4, shrinkB=4)
            )
        charts.accuracy_axis(axis, charts.METRICS["latency"].label, dataset)
    handles = style.handles(frame["arch"], frame["regime"])
    handles += [
        plt.Line2D([], [], color="0.3", marker="o", markerfacecolor="white", linestyle="", label=f"A: {name_a}"),
        plt.Line2D([], [], color="0.3", marker="o", linestyle="", label=f"B: {name_b}"),
        plt.Line2D([], [], color="0.2", marker="|", linestyle="-", linewidth=0.8, label="accuracy 95% interval"),
    ]
    charts.finish(figure, f"Accuracy against latency: A → B\n{device}", handles)
    for axis, dataset in zip(axes, datasets):
        rows = frame[frame["dataset"] == dataset]
        changed = rows[rows["accuracy_changed"].fillna(False) | rows["latency_changed"].fillna(False)]
        charts.freeze_limits(axis)
        points = list(zip(rows["latency_p50_ms_a"], 100 * rows["test_accuracy_mean_a"]))
        points += list(zip(rows["latency_p50_ms_b"], 100 * rows["test_accuracy_mean_b"]))
        place_labels(
            axis,
            list(zip(changed["latency_p50_ms_b"], 100 * changed["test_accuracy_mean_b"])),
            [point_label(c, a, r) for c, a, r in zip(changed["case_id"], changed["arch"], changed["regime"])],
            avoid=points,
        )
    return figure


def _yerr(case: pd.Series) -> list[list[float]] | None:
    """A point's vertical error bar (in points) from its accuracy interval, or None where it has none."""
    if pd.isna(case["accuracy_low"]):
        return None
    mean = case["test_accuracy_mean"]
    return [[100 * max(mean - case["accuracy_low"], 0)], [100 * max(case["accuracy_high"] - mean, 0)]]


def default_out(run_a: Path, run_b: Path) -> Path:
    """``RUN_B/compare-<RUN_A folder name>``."""
    return Path(run_b) / f"compare-{Path(run_a).resolve().name}"


def write_comparison(comparison: Comparison, out: Path) -> list[Path]:
    """Writes ``compare.csv``, ``compare.md``, the chart(s) as PNG and SVG, and ``compare.html`` into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    table = comparison.table()
    csv_path, md_path = out / "compare.csv", out / "compare.md"
    comparison.frame.drop(columns=["outcomes_a", "outcomes_b"], errors="ignore").to_csv(csv_path, index=False)
    md_path.write_text(f"## {table.title}\n\n{comparison.to_text()}\n")
    json_path = out / "compare.json"
    json_path.write_text(json.dumps(to_json(comparison), indent=2, default=str) + "\n")
    paths = [csv_path, md_path, json_path]
    if comparison.formats is not None:
        paths += [out / "compare_formats.csv"]
        comparison.formats.frame.to_csv(paths[-1], index=False)
    devices = sorted(comparison.frame["device"].unique())
    images = []
    for device in devices:
        figure = chart(comparison, device)
        if figure is None:
            continue
        stem = out / ("accuracy_vs_latency" if len(devices) == 1 else f"accuracy_vs_latency-{charts.slug(device)}")
        png, svg = charts.save(figure, stem)
        paths += [png, svg]
        images.append(Image(title=f"Accuracy against latency, A → B ({device})", png=png.read_bytes(), caption=CAPTION))
    both = pd.concat([comparison.a.results, comparison.b.results], ignore_index=True)
    only = [
        f"<p>Only in {side} ({len(ids)}): {html.escape(', '.join(ids))}</p>"
        for side, ids in (("A", comparison.only_a), ("B", comparison.only_b))
        if ids
    ]
    body = [image.to_html() for image in images]
    body += [table_html(table, level=2), *only]
    body += [table_html(comparison.formats, level=2)] if comparison.formats is not None else []
    body += [table_html(environment_table(both), level=2)]
    html_path = out / "compare.html"
    html_path.write_text(page(f"Compare: {table.title}", body), encoding="utf-8")
    return [html_path, *paths]
