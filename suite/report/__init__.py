"""Tables, charts and one HTML page, rebuilt from a results folder's stored files alone (never by training).

``write_report(DIR)`` reads ``DIR/results.csv`` and the side tables beside it and writes

- ``DIR/summary.csv``: one row per ok case and device (mean and spread over seeds);
- ``DIR/tables/<name>.csv`` and ``.md``: the tables of ``suite.report.tables``;
- ``DIR/charts/<name>.png`` and ``.svg``: the charts of ``suite.report.charts``
  (training curves under ``charts/training/``);
- ``DIR/report.html``: all of it on one self-contained page, under a headline block that answers the
  suite's question (``suite.report.headline``);
- ``DIR/summary.md``: the same headline, as Markdown;
- where the results hold more than one ``train_per_class``: test accuracy against training images per class
  and the crossover table of scratch against transfer (``suite.report.label_efficiency``);
- where the run deployed formats (``DIR/formats.csv``): a table per architecture and a "what to ship" table
  (``suite.report.deployed``) and the formats' accuracy-against-latency chart (``suite.report.deployed_chart``);
- where the run served its networks under load (``DIR/serving.csv``): the serving table and the p99-against-
  offered-load chart (``suite.report.serving``), whose Offline rate is then the throughput every table ranks by.

A missing side table or a folder of failed rows only still gives a report, with the
gap said on the page. ``suite.report.compare`` sets two runs side by side.

The package: ``summary`` (rows to one row per case), ``intervals`` (every accuracy's 95%
interval), ``front`` (the accuracy-against-latency front, ties kept), ``headline`` and
``caveats`` (the answer and what it rests on), ``tables`` (with ``_format`` and ``pairs``),
``charts`` (with ``accuracy_chart``, ``sweep_chart``, ``_figure`` and ``_labels``), ``tuning_chart`` (the
tuned cases' trials, under ``charts/tuning/``), ``html``
(the page), ``folder`` (reading the stored files), ``compare`` (two runs).
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from suite.environment import require_one_fingerprint
from suite.report import charts, deployed, deployed_chart, label_efficiency, serving, tuning_chart
from suite.report.folder import ResultsFolder
from suite.report.headline import Headline
from suite.report.html import Image, Missing, render
from suite.report.lap import with_lap
from suite.report.serving import with_serving
from suite.report.summary import pareto_front, per_case, summarise, t_interval
from suite.report.tables import Table, build_tables

log = logging.getLogger(__name__)

__all__ = ["Report", "build_report", "pareto_front", "summarise", "t_interval", "write_report"]

REPORT_FILE = "report.html"
HEADLINE_FILE = "summary.md"
ACCURACY_CHARTS = {
    "latency": "Accuracy against latency",
    "throughput": "Accuracy against throughput",
    "params": "Accuracy against parameters",
    "flops": "Accuracy against FLOPs",
}


@dataclass(kw_only=True)
class Report:
    """Everything ``write_report`` writes, and the paths it wrote."""

    folder: ResultsFolder
    summary: pd.DataFrame
    tables: list[Table]
    charts: dict[str, list[Image] | str] = field(default_factory=dict)  # heading: images, or why there are none
    paths: list[Path] = field(default_factory=list)
    deployed: pd.DataFrame | None = None  # deployed.per_format of formats.csv; None where there is no such file
    label_points: pd.DataFrame | None = None  # label_efficiency.curve_points; None with one train_per_class only
    serving: pd.DataFrame | None = None  # serving.csv's latest rows; None where the run served nothing


def write_atomically(path: Path, text: str) -> None:
    """Writes ``text`` to a temporary file beside ``path`` and renames it over ``path``.

    A reader (a browser refreshing ``report.html`` while the run rebuilds it) sees the old file or the new one,
    never half of one; a failed write leaves the old file and no temporary one.
    """
    handle = tempfile.NamedTemporaryFile("w", dir=path.parent, prefix=f".{path.name}.", delete=False, encoding="utf-8")
    try:
        with handle:
            handle.write(text)
        os.chmod(handle.name, 0o644)  # as write_text would leave it, not the temporary file's 0600
        os.replace(handle.name, path)
    except BaseException:
        Path(handle.name).unlink(missing_ok=True)
        raise


def _clear_charts(chart_dir: Path) -> None:
    """Removes the charts a previous report wrote, so that none outlives the data it was drawn from."""
    for pattern in ("*.png", "*.svg", "training/*.png", "training/*.svg", "tuning/*.png", "tuning/*.svg"):
        for stale in chart_dir.glob(pattern):
            stale.unlink()


def _add(report: Report, heading: str, stem: Path, build: Callable[[], Figure | None], caption: str) -> None:
    """Draws one chart, saves it as PNG and SVG under ``stem`` and files it under ``heading`` with its caption.

    A chart that fails to draw is a gap on the page, not the end of the report: a run calls this after hours
    of training, and every other table and chart is still worth having.
    """
    try:
        figure = build()
        if figure is None:
            return
        png, svg = charts.save(figure, stem)
    except Exception as error:  # reported on the page and in the log
        line = f"{stem.name}: could not be drawn ({type(error).__name__}: {error})"
        log.warning("report: %s", line)
        report.folder.gaps.append(line)
        return
    report.paths += [png, svg]
    title = figure.texts[0].get_text().replace("\n", " — ") if figure.texts else stem.name
    images = report.charts.setdefault(heading, [])
    images.append(Image(title=title, png=png.read_bytes(), caption=caption))


def _draw(report: Report, chart_dir: Path) -> None:
    """Every chart, in the order the page shows them; a heading without images says why."""
    summary, folder = report.summary, report.folder
    style = charts.Style.of(summary)
    devices = sorted(summary["device_name"].dropna().unique()) if not summary.empty else []
    suffix = {d: "" if len(devices) == 1 else f"-{charts.slug(d)}" for d in devices}
    for metric, heading in ACCURACY_CHARTS.items():
        for device in devices:
            stem = chart_dir / f"accuracy_vs_{metric}{suffix[device]}"
            build = partial(charts.accuracy_against, summary, metric, device, style)
            _add(report, heading, stem, build, charts.CAPTIONS[metric])
        report.charts.setdefault(heading, f"no ok case has {charts.METRICS[metric].column}")

    per_device = [  # heading, file stem, drawing function and its data, caption, what an empty heading says
        (
            "Throughput against batch size",
            "throughput_vs_batch",
            partial(charts.throughput_vs_batch, folder.throughput_points()),
            "no ok case has a readable throughput/<case>-s<seed>.csv",
        ),
        (
            "Freeze-depth sweep",
            "freeze_depth",
            partial(charts.freeze_depth_sweep, summary),
            "no model ran two or more of frozen, freeze75/50/25 and finetune",
        ),
    ]
    for heading, name, draw, empty in per_device:
        for device in devices:
            build = partial(draw, device, style)
            _add(report, heading, chart_dir / f"{name}{suffix[device]}", build, charts.CAPTIONS[name])
        report.charts.setdefault(heading, empty)

    if report.label_points is not None:
        for device in sorted(report.label_points["device_name"].unique()):
            build = partial(label_efficiency.chart, report.label_points, device, style)
            stem = chart_dir / f"{label_efficiency.CHART}{suffix.get(device, '-' + charts.slug(device))}"
            _add(report, label_efficiency.HEADING, stem, build, label_efficiency.CAPTION)

    heading = "Training curves (one chart per case)"
    ok = folder.ok
    for case_id in sorted(ok["case_id"].unique()):
        seeds = sorted(ok[ok["case_id"] == case_id]["seed"].unique())
        histories = {int(s): folder.history(case_id, s) for s in seeds}
        build = partial(charts.training_curves, histories, case_id)
        _add(report, heading, chart_dir / "training" / case_id, build, charts.CAPTIONS["training"])
    report.charts.setdefault(heading, "no ok case has a readable history/<case>-s<seed>.csv")

    if report.deployed is not None:
        empty = deployed_chart.draw(report.deployed, chart_dir, style, partial(_add, report))
        if empty:
            report.charts.setdefault(deployed_chart.HEADING, empty)

    if report.serving is not None:
        serving.draw(report.serving, chart_dir, style, partial(_add, report))

    empty = tuning_chart.draw(folder.path, chart_dir / "tuning", folder.gaps, partial(_add, report))
    if empty and (folder.results["regime"] == "tuned").any():
        report.charts.setdefault(tuning_chart.HEADING, empty)


def build_report(results_dir: Path, force: bool = False, write: bool = True) -> Report:
    """Reads ``results_dir`` and builds (and, if ``write``, writes) the whole report; see the module docstring.

    Refuses rows from different machine fingerprints unless ``force``.
    """
    folder = ResultsFolder.read(results_dir)
    require_one_fingerprint(folder.ok, force, f"the results in {folder.path}")
    lap, served = folder.lap(), folder.serving()
    summary = with_serving(with_lap(per_case(folder.results), lap), served)  # outcomes: tests are paired
    report = Report(folder=folder, summary=summary, tables=build_tables(folder.results, summary), serving=served)
    crossover = None
    if label_efficiency.applies(folder.results):
        report.label_points = label_efficiency.curve_points(folder.results)
        crossover = label_efficiency.crossover_table(report.label_points)
        report.tables.append(crossover)
    formats, budgets = folder.formats(), folder.budgets()
    if formats is not None:
        report.deployed = with_serving(with_lap(deployed.per_format(formats), lap), served)
        report.tables += [deployed.ship_table(report.deployed, budgets), *deployed.arch_tables(report.deployed)]
    if served is not None:
        report.tables.append(serving.serving_table(served))
    if not write:
        return report
    summary_path = folder.path / "summary.csv"
    summarise(folder.results).to_csv(summary_path, index=False)
    table_dir, chart_dir = folder.path / "tables", folder.path / "charts"
    for table in report.tables:
        report.paths += table.write(table_dir)
    chart_dir.mkdir(parents=True, exist_ok=True)
    _clear_charts(chart_dir)
    _draw(report, chart_dir)
    tracebacks = {
        f"{row['case_id']} seed {row['seed']}": folder.traceback(row["case_id"], row["seed"])
        for _, row in folder.not_ok.iterrows()
    }
    headline = Headline.of(folder.results, report.deployed, budgets, lap)
    headline_path = folder.path / HEADLINE_FILE
    extra = f"\n{crossover.to_markdown()}" if crossover is not None else ""
    write_atomically(headline_path, headline.to_markdown() + extra)
    page = render(
        f"Benchmark report: {folder.name}",
        folder.results,
        report.tables,
        report.charts,
        Missing(gaps=folder.gaps, tracebacks=tracebacks),
        headline.to_html(),
    )
    html_path = folder.path / REPORT_FILE
    write_atomically(html_path, page)
    report.paths = [html_path, summary_path, headline_path, *report.paths]
    return report


def write_report(results_dir: Path, force: bool = False) -> list[Path]:
    """Rebuilds the report of ``results_dir``; returns ``[report.html, summary.csv, tables/, charts/, summary.md]``.

    Refuses rows from different machine fingerprints unless ``force``.
    """
    report = build_report(results_dir, force=force)
    folder = report.folder.path
    return [report.paths[0], report.paths[1], folder / "tables", folder / "charts", report.paths[2]]
