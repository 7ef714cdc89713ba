"""The report's deployed-formats part, built from a small stored formats.csv and results.csv (nothing trains).

Two CPU cases of the report-smoke fixture, each with a Keras row and three formats whose figures are chosen
here, so every speed-up, accuracy change and budget answer can be worked out by hand.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd
import pytest

from suite import report, storage
from suite.report import charts, deployed, deployed_chart
from suite.report.front import budget_ladder
from suite.report.headline import SHIP_HEADING

FIXTURE = Path(__file__).resolve().parent.parent / "results" / "fixtures" / "report-smoke"
CASES = {"simple_cnn.scratch.digits.long": "simple_cnn", "mobilenet_v2.frozen.digits": "mobilenet_v2"}
# case: format -> (latency p50 ms, latency p90 ms, test accuracy, file MB)
FIGURES = {
    "simple_cnn.scratch.digits.long": {
        "keras": (1.0, 1.2, 0.95, 0.40), "litert_fp32": (0.5, 0.6, 0.95, 0.20),
        "litert_int8": (0.25, 0.3, 0.93, 0.06), "onnx": (0.8, 0.9, 0.95, 0.21),
    },
    "mobilenet_v2.frozen.digits": {
        "keras": (10.0, 12.0, 0.19, 9.0), "litert_fp32": (4.0, 5.0, 0.19, 8.9),
        "litert_int8": (2.0, 2.5, 0.18, 2.5), "onnx": (5.0, 6.0, 0.19, 8.9),
    },
}  # fmt: skip


def _results(folder: Path) -> pd.DataFrame:
    """``folder/results.csv``: the fixture's seed-0 CPU rows of ``CASES``, copied line for line."""
    with (FIXTURE / "results.csv").open(newline="") as handle:
        lines = list(csv.reader(handle))
    header, body = lines[0], lines[1:]
    index = {c: header.index(c) for c in ("case_id", "seed", "device_name")}
    kept = [r for r in body if r[index["case_id"]] in CASES and r[index["seed"]] == "0"
            and r[index["device_name"]].startswith("cpu")]  # fmt: skip
    with (folder / "results.csv").open("w", newline="") as handle:
        csv.writer(handle, lineterminator="\n").writerows([header, *kept])
    return storage.read_results(folder)


def write_formats(folder: Path, figures: dict = FIGURES) -> None:
    """``folder/formats.csv`` with one ok row per case x format of ``figures``, identity from ``results.csv``."""
    results = storage.read_results(folder)
    storage.prepare_formats(folder)
    for case_id, formats in figures.items():
        row = results[results["case_id"] == case_id].iloc[0]
        identity = {c: row.get(c) for c in storage.FORMAT_IDENTITY}
        for name, (p50, p90, accuracy, size) in formats.items():
            quantised = name in ("litert_int8", "litert_fp16", "litert_dynamic_int8")
            storage.append_format_row(folder, {
                **identity, "format": name, "status": "ok", "quantised": quantised, "file_mb": size,
                "latency_p50_ms": p50, "latency_p90_ms": p90, "test_accuracy": accuracy, "test_images": 64,
            })  # fmt: skip


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The report of the small folder, written once: ``(folder, Report)``."""
    folder = tmp_path_factory.mktemp("formats")
    _results(folder)
    write_formats(folder)
    return folder, report.build_report(folder)


def test_per_format_speedup_is_keras_over_format_and_change_is_in_points(built):
    _, result = built
    rows = result.deployed.set_index(["case_id", "format"])
    int8 = rows.loc[("simple_cnn.scratch.digits.long", "litert_int8")]
    assert int8["speedup_vs_keras"] == pytest.approx(1.0 / 0.25)  # 4x faster, not 0.25
    assert int8["accuracy_change_points"] == pytest.approx((0.93 - 0.95) * 100)
    assert bool(int8["quantised"]) and int8["file_mb"] == pytest.approx(0.06)
    keras = rows.loc[("mobilenet_v2.frozen.digits", "keras")]
    assert keras["speedup_vs_keras"] == pytest.approx(1.0) and keras["accuracy_change_points"] == 0
    assert list(result.deployed["format"])[:1] == ["keras"]  # each case's Keras row first


def test_a_table_per_architecture_shows_the_hand_worked_figures(built):
    folder, result = built
    by_name = {t.name: t for t in result.tables}
    assert {"formats_simple-cnn", "formats_mobilenet-v2", "formats_ship"} <= set(by_name)
    table = by_name["formats_mobilenet-v2"]
    shown = table.display.set_index("format")
    assert shown.loc["litert_int8 (quantised)", "speed-up vs Keras (×)"] == "5"  # 10 / 2
    assert shown.loc["litert_int8 (quantised)", "accuracy change (points)"] == "-1.0"
    assert shown.loc["onnx", "latency p50 (ms)"] == "5" and shown.loc["onnx", "size (MB)"] == "8.9"
    stored = pd.read_csv(folder / "tables" / "formats_mobilenet-v2.csv").set_index("format")
    assert stored.loc["litert_fp32", "speedup_vs_keras"] == pytest.approx(2.5)
    assert set(stored["case_id"]) == {"mobilenet_v2.frozen.digits"}


def test_what_to_ship_is_the_most_accurate_case_x_format_within_each_p90_budget(built):
    folder, result = built
    ship = {t.name: t for t in result.tables}["formats_ship"].frame
    p90s = pd.Series([f[1] for case in FIGURES.values() for f in case.values()])
    assert list(ship["budget_ms"]) == budget_ladder(p90s)  # 1-2-5 x 10^k ms from the fastest p90 to the slowest
    for _, answer in ship.iterrows():
        within = [(acc, case, name) for case, formats in FIGURES.items()
                  for name, (_, p90, acc, _) in formats.items() if p90 <= answer["budget_ms"]]  # fmt: skip
        assert answer["test_accuracy_mean"] == pytest.approx(max(within)[0])
        assert (answer["case_id"], answer["format"]) in {(c, n) for a, c, n in within if a == max(within)[0]}
    summary = (folder / "summary.md").read_text()
    assert f"## {SHIP_HEADING}" in summary and "(litert_fp32)" in summary  # p90 0.6 ms, 95%


def test_the_chart_has_an_arrow_from_each_keras_point_to_each_format(built):
    folder, result = built
    assert (folder / "charts" / "formats_accuracy_vs_latency.png").is_file()
    assert (folder / "charts" / "formats_accuracy_vs_latency.svg").is_file()
    [image] = result.charts[deployed_chart.HEADING]
    assert image.caption == deployed_chart.CAPTION
    figure = deployed_chart.formats_chart(result.deployed, result.deployed["device_name"].iloc[0])
    axis = figure.axes[0]
    arrows = [t for t in axis.texts if t.get_gid() == deployed_chart.ARROW_GID]
    assert len(arrows) == sum(len(f) - 1 for f in FIGURES.values())  # 6: every format but Keras, per case
    starts = {a.xyann for a in arrows}
    assert starts == {(f["keras"][0], 100 * f["keras"][2]) for f in FIGURES.values()}
    ends = {(round(a.xy[0], 6), round(a.xy[1], 6)) for a in arrows}
    assert (0.25, 93.0) in ends and (2.0, 18.0) in ends
    assert axis.get_xscale() == "log" and axis.get_ylabel() == "test accuracy (%)"
    legend = {t.get_text() for t in figure.legends[0].get_texts()}
    assert {"keras", "litert_fp32", "litert_int8", "onnx", "simple_cnn", "mobilenet_v2"} <= legend
    charts.plt.close(figure)
    page = (folder / "report.html").read_text()
    assert deployed_chart.HEADING in page and SHIP_HEADING in page


def test_without_formats_csv_the_report_has_no_formats_part(tmp_path):
    _results(tmp_path)
    result = report.build_report(tmp_path)
    assert result.deployed is None
    assert not any(t.name.startswith("formats") for t in result.tables)
    assert deployed_chart.HEADING not in result.charts
    assert SHIP_HEADING not in (tmp_path / "summary.md").read_text()
    assert not list((tmp_path / "charts").glob("formats_*"))


def test_no_ok_format_is_said_not_crashed(tmp_path):
    _results(tmp_path)
    storage.prepare_formats(tmp_path)  # a header and no rows: the run deployed, nothing finished
    result = report.build_report(tmp_path)
    assert result.deployed is not None and result.deployed.empty
    assert result.charts[deployed_chart.HEADING] == "no format in formats.csv ran ok"
    assert [t.name for t in result.tables if t.name.startswith("formats")] == ["formats_ship", "formats"]
    assert deployed.arch_tables(result.deployed)[0].note == "No format in formats.csv ran ok."


def test_every_formats_csv_column_is_documented():
    readme = (FIXTURE.parent.parent / "README.md").read_text()
    section = readme.split("## `formats.csv` columns", 1)[1].split("\n## ", 1)[0]
    columns = storage.FORMAT_COLUMNS
    own = columns[columns.index("format") : columns.index("device")]
    assert [c for c in own if f"`{c}`" not in section] == []
    assert [c for c in storage.FORMAT_COLUMNS if f"`{c}`" not in readme] == []
    assert all(f"`{c}`" in readme for c in ("best_format", "best_format_latency_p50_ms"))
