"""results.csv is appended safely; the summary and chart come from stored rows alone."""

from __future__ import annotations

import pandas as pd
import pytest
from helpers import result_row

from suite import report, storage
from suite.errors import SuiteError

REQUIRED = [
    "case_id",
    "arch",
    "regime",
    "dataset",
    "weights",
    "seed",
    "status",
    "error",
    "epochs",
    "train_seconds",
    "train_images_per_s",
    "val_accuracy",
    "test_accuracy",
    "params",
    "trainable_params",
    "latency_p50_ms",
    "throughput_ips",
    "device",
    "tf_version",
    "keras_version",
]


def row(case_id: str, seed: int, accuracy: float, latency: float, **extra) -> dict:
    return result_row(case_id, accuracy, seed=seed, latency=latency, weights="none", train_seconds=1.0, **extra)


def test_schema_has_every_required_column():
    assert set(REQUIRED) <= set(storage.COLUMNS)


def test_rows_append_and_read_back(tmp_path):
    storage.prepare(tmp_path)
    storage.append_row(tmp_path, row("a.scratch.digits", 0, 0.9, 2.0, error=None))
    storage.append_row(tmp_path, row("a.scratch.digits", 1, 0.8, 2.2, error='quote " and, comma'))
    frame = storage.read_results(tmp_path)
    assert list(frame.columns) == storage.COLUMNS
    assert frame["test_accuracy"].tolist() == [0.9, 0.8]
    assert frame["error"].iloc[1] == 'quote " and, comma'
    storage.prepare(tmp_path)  # a second run on the same folder keeps the rows
    assert len(storage.read_results(tmp_path)) == 2
    with pytest.raises(ValueError, match="schema lacks"):
        storage.append_row(tmp_path, {"case_id": "x", "accuracy": 1})


def test_a_results_file_with_other_columns_is_refused_untouched(tmp_path):
    path = tmp_path / "results.csv"
    path.write_text("case_id,accuracy\nx,1\n")
    with pytest.raises(SuiteError, match="other columns"):
        storage.prepare(tmp_path)
    assert path.read_text() == "case_id,accuracy\nx,1\n"


def test_prepare_sets_up_every_table_with_its_header(tmp_path):
    storage.prepare(tmp_path)
    assert [t.file for t in storage.TABLES] == ["results.csv", "formats.csv"]
    for table in storage.TABLES:
        assert table.path(tmp_path).read_text().rstrip("\n").split(",") == list(table.columns)


def test_a_new_table_is_one_definition_and_follows_every_rule(tmp_path):
    serving = storage.Table(
        file="serving.csv", columns=("case_key", "seed", "digest"), keys=("case_key", "seed"), text_columns=("digest",)
    )
    (tmp_path / "errors").mkdir()
    serving.prepare(tmp_path)
    serving.append(tmp_path, {"case_key": "k", "seed": 0, "digest": "0123"})
    with serving.path(tmp_path).open("a") as handle:
        handle.write("k,1,45")  # a kill mid-write
    assert serving.read(tmp_path)["digest"].tolist() == ["0123"], "a half row is not a row; text stays text"
    serving.prepare(tmp_path)  # the next run moves the half row aside
    assert [p.read_text() for p in (tmp_path / "errors").glob("partial-row-serving-*.txt")] == ["k,1,45"]
    assert serving.path(tmp_path).read_text() == "case_key,seed,digest\nk,0,0123\n"
    with pytest.raises(ValueError, match="schema lacks"):
        serving.append(tmp_path, {"case_key": "k", "speed": 1})
    with pytest.raises(SuiteError, match="other columns"):
        storage.Table(file="serving.csv", columns=("case_key",), keys=("case_key",)).prepare(tmp_path)


def test_pareto_front_keeps_only_undominated_points():
    points = pd.DataFrame({"x": [1, 2, 3, 4, 5], "y": [0.5, 0.4, 0.7, 0.6, 0.9]})
    front = report.pareto_front(points, "x", "y")
    assert front["x"].tolist() == [1, 3, 5]


def test_report_summarises_seeds_and_draws_the_chart(tmp_path):
    storage.prepare(tmp_path)
    for seed, accuracy in enumerate([0.90, 0.94]):
        storage.append_row(tmp_path, row("simple_cnn.scratch.digits", seed, accuracy, 1.0))
    storage.append_row(tmp_path, row("resnet50.frozen.digits", 0, 0.8, 10.0))
    storage.append_row(tmp_path, dict(row("resnet50.scratch.digits", 0, None, None), status="failed", error="boom"))
    page, summary_path, tables, charts, headline = report.write_report(tmp_path)
    assert headline.name == "summary.md" and headline.read_text().startswith("# Which classifier")
    chart = charts / "accuracy_vs_latency.png"
    assert page.name == "report.html" and "boom" in page.read_text()
    summary = pd.read_csv(summary_path).set_index("case_id")
    assert list(summary.index) == ["resnet50.frozen.digits", "simple_cnn.scratch.digits"], "failed rows are left out"
    assert summary.loc["simple_cnn.scratch.digits", "seeds"] == 2
    assert summary.loc["simple_cnn.scratch.digits", "test_accuracy_mean"] == pytest.approx(0.92)
    assert summary.loc["simple_cnn.scratch.digits", "test_accuracy_std"] == pytest.approx(0.0283, abs=1e-3)
    assert summary.loc["simple_cnn.scratch.digits", "test_accuracy_ci95"] == pytest.approx(12.706 * 0.02, rel=1e-3)
    assert pd.isna(summary.loc["resnet50.frozen.digits", "test_accuracy_ci95"])  # one seed: no interval
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and chart.stat().st_size > 10_000
