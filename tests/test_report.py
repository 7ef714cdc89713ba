"""Every table and chart of the report, built from the stored fixture folder alone (nothing trains).

The fixture (``results/fixtures/report-smoke``, see its README) is real smoke-profile
output plus a few synthetic rows: a TF-Hub twin of ``mobilenet_v2`` and a second device.
Tests work on a copy, so the fixture is never written to.
"""

from __future__ import annotations

import itertools
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest
from matplotlib.container import ErrorbarContainer
from matplotlib.text import Annotation, Text
from scipy import stats

from suite import report, storage
from suite.cli import main
from suite.errors import SuiteError
from suite.regimes import FREEZE_SWEEP, REGIMES
from suite.report import charts, tables
from suite.report.folder import ResultsFolder
from suite.report.front import latency_front
from suite.report.summary import regime_order

FIXTURE = Path(__file__).resolve().parent.parent / "results" / "fixtures" / "report-smoke"
CPU = "cpu: Intel(R) Xeon(R) Processor @ 2.80GHz x2"
GPU = "gpu: synthetic GPU x1"


@pytest.fixture(scope="module")
def rows() -> pd.DataFrame:
    return storage.read_results(FIXTURE)


@pytest.fixture(scope="module")
def summary(rows) -> pd.DataFrame:
    return report.summarise(rows)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The whole report written once into a copy of the fixture: ``(folder, Report)``."""
    folder = tmp_path_factory.mktemp("report") / "report-smoke"
    shutil.copytree(FIXTURE, folder)
    return folder, report.build_report(folder)


def seed_means(rows: pd.DataFrame) -> pd.DataFrame:
    """Accuracy mean and std per case and device, straight from the rows."""
    ok = rows[rows["status"] == "ok"]
    return ok.groupby(["case_id", "device_name"])["test_accuracy"].agg(["mean", "std", "count"])


def test_the_fixture_has_the_shapes_the_report_must_handle(rows):
    assert set(rows["status"]) == {"ok", "failed"}
    assert set(rows["device_name"]) == {CPU, GPU}
    assert {"hub_mobilenet_v2", "mobilenet_v2", "resnet_scratch", "resnet50"} <= set(rows["arch"])
    assert rows["fingerprint"].nunique() == 1


def test_summary_is_the_seed_mean_and_std_of_each_case(rows, summary):
    expected = seed_means(rows)
    got = summary.set_index(["case_id", "device_name"])
    assert len(got) == len(expected)
    for key, row in expected.iterrows():
        assert got.loc[key, "test_accuracy_mean"] == pytest.approx(row["mean"])
        assert got.loc[key, "test_accuracy_std"] == pytest.approx(row["std"] if row["count"] > 1 else 0.0)
        assert got.loc[key, "seeds"] == row["count"]


def test_accuracy_pivot_cells_are_the_seed_means(rows, summary):
    table = tables.accuracy_pivot(summary)
    frame = table.frame.set_index(["device_name", "model"])  # two devices: kept apart, never pooled
    expected = seed_means(rows)
    checked = 0
    for (case_id, device), row in expected.iterrows():
        arch, regime, *rest = case_id.split(".")
        model = arch if len(rest) == 1 else f"{arch} ({'.'.join(rest[1:])})"
        assert frame.loc[(device, model), f"{regime}_mean"] == pytest.approx(row["mean"])
        assert frame.loc[(device, model), f"{regime}_seeds"] == row["count"]
        checked += 1
    assert checked == len(expected) and checked > 20
    # The text cells say mean [95% interval] in percent; the cell of a case that did not run is empty.
    # Both seeds of simple_cnn.scratch scored the same, so the interval is the Wilson one of its 64 test images,
    # counted once: the seeds were scored on the same images.
    text = table.display.set_index(["device_name", "model"])
    mean, std = expected.loc[("simple_cnn.scratch.digits", CPU), ["mean", "std"]]
    assert std == 0
    wilson = stats.binomtest(round(mean * 64), 64).proportion_ci(method="wilson")
    expected_text = f"{100 * mean:.1f} [{100 * wilson.low:.1f}, {100 * wilson.high:.1f}]"
    assert text.loc[(CPU, "simple_cnn"), "scratch"] == expected_text
    assert text.loc[(CPU, "resnet50"), "freeze50"] == ""
    assert list(text.columns) == ["scratch", "frozen", "freeze75", "freeze50", "freeze25", "finetune"]


def test_latency_and_throughput_pivots_are_medians_over_seeds(rows, summary):
    latency = tables.build_tables(rows, summary)[2].frame.set_index(["device_name", "model"])
    throughput = tables.build_tables(rows, summary)[3].frame.set_index(["device_name", "model"])
    ok = rows[(rows["status"] == "ok") & (rows["case_id"] == "resnet50.frozen.digits") & (rows["device_name"] == CPU)]
    assert latency.loc[(CPU, "resnet50"), "frozen"] == pytest.approx(ok["latency_p50_ms"].median())
    assert throughput.loc[(CPU, "resnet50"), "frozen"] == pytest.approx(ok["throughput_ips"].median())


def test_freeze_depth_table_runs_from_frozen_to_finetune(rows, summary):
    table = tables.freeze_depth_table(summary)
    frame = table.frame.set_index(["device_name", "model"])
    assert list(table.display.columns[2:7]) == [
        "frozen (100% frozen)",
        "freeze75 (75% frozen)",
        "freeze50 (50% frozen)",
        "freeze25 (25% frozen)",
        "finetune (0% frozen)",
    ]
    means = seed_means(rows)["mean"]
    for arch in ("simple_cnn", "resnet_scratch"):
        change = means[(f"{arch}.finetune.digits", CPU)] - means[(f"{arch}.frozen.digits", CPU)]
        assert frame.loc[(CPU, arch), "finetune_minus_frozen_points"] == pytest.approx(100 * change)
    # resnet50 and the hub twin ran frozen and finetune only: still a sweep of two points.
    assert (CPU, "resnet50") in frame.index and pd.isna(frame.loc[(CPU, "resnet50"), "freeze50_mean"])


def test_regimes_read_in_the_order_of_suite_regimes_and_the_sweep_is_its_fixed_freezes():
    assert regime_order(["tuned", "zeta", "finetune", "freeze75", "scratch", "alpha"]) == [
        "scratch",
        "freeze75",
        "finetune",
        "tuned",
        "alpha",
        "zeta",
    ]
    assert FREEZE_SWEEP == ("frozen", "freeze75", "freeze50", "freeze25", "finetune")  # pretrained, not searched
    assert [REGIMES[r].frozen_percent for r in FREEZE_SWEEP] == [100, 75, 50, 25, 0]


def test_the_suite_resnet_is_set_beside_keras_resnet50_in_the_regimes_both_ran(summary):
    table = tables.suite_vs_keras_table(summary)
    frame = table.frame
    assert set(frame["regime"]) == {"scratch", "frozen", "finetune"}
    assert set(frame["suite_arch"]) == {"resnet_scratch"} and set(frame["keras_arch"]) == {"resnet50"}
    cpu = summary[summary["device_name"] == CPU].set_index("case_id")
    scratch = frame[(frame["regime"] == "scratch") & (frame["device_name"] == CPU)].iloc[0]
    expected = cpu.loc["resnet50.scratch.digits", "test_accuracy_mean"]
    expected -= cpu.loc["resnet_scratch.scratch.digits", "test_accuracy_mean"]
    assert scratch["accuracy_delta_points"] == pytest.approx(100 * expected)
    assert scratch["keras_params"] > 50 * scratch["suite_params"]  # ResNet50 against ResNet-20


def test_hub_architectures_pair_with_their_keras_applications_by_name(summary):
    assert tables.hub_pairs(["inception_v3", "hub_inception_v3", "hub_mobilenet_v2", "resnet50"]) == [
        ("inception_v3", "hub_inception_v3")
    ]
    assert tables.hub_pairs(["hub_mobilenet_v2", "mobilenet_v2", "hub_inception_v3", "inception_v3"]) == [
        ("inception_v3", "hub_inception_v3"),
        ("mobilenet_v2", "hub_mobilenet_v2"),
    ]
    table = tables.hub_table(summary)
    assert set(zip(table.frame["keras_arch"], table.frame["hub_arch"])) == {("mobilenet_v2", "hub_mobilenet_v2")}
    assert sorted(table.frame["regime"]) == ["finetune", "frozen"]
    latency = table.frame["hub_latency_p50_ms"] / table.frame["keras_latency_p50_ms"]
    assert latency.to_numpy() == pytest.approx(1.15, rel=1e-3)  # how the synthetic hub rows were made


def test_a_pair_with_only_one_side_gives_an_empty_table_with_the_reason(summary):
    table = tables.hub_table(summary[summary["arch"] != "hub_mobilenet_v2"])
    assert table.frame.empty and "No architecture ran both" in table.note


def test_failures_and_environment_tables(rows):
    failures = tables.failures_table(rows)
    assert failures.frame["case_id"].tolist() == ["simple_cnn.frozen.digits.bad"]
    assert failures.frame["error"].iloc[0].startswith("WeightsUnavailable: weights file")
    environment = tables.environment_table(rows).frame.set_index("field")
    assert list(environment.columns) == [f"fingerprint {rows['fingerprint'].iloc[0]}"]
    assert environment.loc["tf_version"].iloc[0] == rows["tf_version"].iloc[0]
    assert set(environment.loc["device_name"].iloc[0].split("; ")) == {CPU, GPU}


def dominated(points: pd.DataFrame, x: str, y: str, lower_x: bool = True) -> set[str]:
    """Cases some other case beats on both axes (brute force, against which the frontier is checked)."""
    better_x = (lambda a, b: a <= b) if lower_x else (lambda a, b: a >= b)
    out = set()
    for (_, p), (_, q) in itertools.permutations(points.iterrows(), 2):
        if better_x(q[x], p[x]) and q[y] >= p[y] and (q[x] != p[x] or q[y] != p[y]):
            out.add(p["case_id"])
    return out


@pytest.mark.parametrize("metric, column, lower", [("throughput", "throughput_ips", False), ("params", "params", True)])
def test_the_frontier_is_every_undominated_case_and_only_it_is_labelled(summary, metric, column, lower):
    cpu = summary[summary["device_name"] == CPU]
    front = report.pareto_front(cpu, column, "test_accuracy_mean", lower_x_is_better=lower)
    assert set(front["case_id"]) == set(cpu["case_id"]) - dominated(cpu, column, "test_accuracy_mean", lower)
    figure = charts.accuracy_against(summary, metric, CPU)
    axis = figure.axes[0]
    labels = [t for t in axis.texts if isinstance(t, Annotation) and t.get_text()]
    expected = {".".join(c.split(".")[:2] + c.split(".")[3:]) for c in front["case_id"]}
    assert {t.get_text() for t in labels} == expected
    charts.plt.close(figure)


def test_accuracy_against_latency_has_title_units_legend_and_one_marker_per_case(summary):
    figure = charts.accuracy_against(summary, "latency", CPU)
    axis = figure.axes[0]
    cpu = summary[summary["device_name"] == CPU]
    assert figure.texts[0].get_text() == f"Test accuracy against batch-1 latency p50\n{CPU}"
    assert axis.get_xlabel() == "latency p50 at batch 1 (ms, log scale)" and axis.get_xscale() == "log"
    assert axis.get_ylabel() == "test accuracy (%)"
    bars = [c for c in axis.containers if isinstance(c, ErrorbarContainer)]
    assert len(bars) == len(cpu)  # one marker with error bars per case
    assert all(c.has_xerr and c.has_yerr for c in bars)  # latency CI and seed spread
    legend = {t.get_text() for t in figure.legends[0].get_texts()}
    assert set(cpu["arch"]) | set(cpu["regime"]) | {"on the front (ties kept)", "one network's regimes"} <= legend
    assert not any("std" in text for text in legend)  # the bars are intervals, and the legend says so
    charts.plt.close(figure)


def test_there_is_one_latency_chart_per_device(built):
    folder, result = built
    names = sorted(p.name for p in (folder / "charts").glob("accuracy_vs_latency*.png"))
    assert names == [f"accuracy_vs_latency-{charts.slug(CPU)}.png", "accuracy_vs_latency-gpu-synthetic-gpu-x1.png"]
    titles = [image.title for image in result.charts["Accuracy against latency"]]
    assert titles == [f"Test accuracy against batch-1 latency p50 — {d}" for d in (CPU, GPU)]


def forty_cases() -> pd.DataFrame:
    """40 made-up cases whose frontier is long and crowded: the chart must still label it without overlaps."""
    rows = []
    for index in range(40):  # 40 networks (one latency each), so the front is long
        arch, regime = f"net{index}", ["scratch", "frozen", "finetune", "freeze25", "freeze50"][index // 8]
        latency = 1.0 * 1.12**index
        rows.append(
            dict(
                case_id=f"{arch}.{regime}.digits",
                arch=arch,
                regime=regime,
                dataset="digits",
                weights="none",
                device="cpu",
                device_name="cpu: test",
                seeds=3,
                test_accuracy_mean=0.5 + 0.011 * index - 0.03 * (index % 3),
                test_accuracy_std=0.01,
                latency_p50_ms=latency,
                latency_p50_ci_low_ms=0.97 * latency,
                latency_p50_ci_high_ms=1.03 * latency,
            )
        )
    return pd.DataFrame(rows)


def test_forty_cases_stay_readable_labels_do_not_overlap():
    summary = forty_cases()
    figure = charts.accuracy_against(summary, "latency", "cpu: test")
    axis = figure.axes[0]
    figure.canvas.draw()
    renderer = figure.canvas.get_renderer()
    labels = [t for t in axis.texts if isinstance(t, Annotation)]
    front = latency_front(summary)
    assert len(labels) == front["on_front"].sum() > 10
    boxes = [Text.get_window_extent(t, renderer) for t in labels]  # the text, without the leader line
    for a, b in itertools.combinations(boxes, 2):
        assert not a.overlaps(b), "two frontier labels overlap"
    frame = axis.get_window_extent(renderer)
    assert all(frame.contains(b.x0, b.y0) and frame.contains(b.x1, b.y1) for b in boxes), "a label left the axes"
    charts.plt.close(figure)


def test_accuracy_against_params_and_flops(summary):
    for metric, label in (("params", "parameters (millions, log scale)"), ("flops", "GFLOPs per image (log scale)")):
        figure = charts.accuracy_against(summary, metric, CPU)
        axis = figure.axes[0]
        assert axis.get_xlabel() == label and axis.get_xscale() == "log"
        x = sorted({round(c.lines[0].get_xdata()[0], 6) for c in axis.containers})
        column = summary[summary["device_name"] == CPU]["params" if metric == "params" else "gflops_per_image"]
        scale = 1e-6 if metric == "params" else 1
        assert x == sorted({round(v * scale, 6) for v in column})
        charts.plt.close(figure)


def test_training_curves_show_train_and_validation_for_each_seed():
    folder = ResultsFolder.read(FIXTURE)
    histories = {seed: folder.history("simple_cnn.finetune.digits.long", seed) for seed in (0, 1)}
    figure = charts.training_curves(histories, "simple_cnn.finetune.digits.long")
    loss, accuracy = figure.axes
    assert figure.texts[0].get_text() == "simple_cnn.finetune.digits.long: training curves"
    assert loss.get_ylabel() == "loss (cross-entropy)" and accuracy.get_ylabel() == "accuracy (%)"
    assert loss.get_xlabel() == "epoch (all phases)"
    curves = [line for line in accuracy.lines if len(line.get_xdata()) > 2]
    assert len(curves) == 4  # 2 seeds x (train, validation)
    history = histories[0]
    assert list(curves[0].get_xdata()) == list(range(1, len(history) + 1))  # head epochs, then fine-tuning
    assert list(curves[0].get_ydata()) == pytest.approx(list(100 * history["accuracy"]))
    phase_lines = [line for line in accuracy.lines if list(line.get_xdata()) == [2.5, 2.5]]
    assert len(phase_lines) == 1  # 2 head epochs, then fine-tuning starts
    assert {"train", "validation", "seed 0", "seed 1"} <= {t.get_text() for t in figure.legends[0].get_texts()}
    charts.plt.close(figure)


def test_throughput_against_batch_has_a_line_per_architecture_and_mode():
    folder = ResultsFolder.read(FIXTURE)
    points = folder.throughput_points()
    figure = charts.throughput_vs_batch(points, CPU)
    axis = figure.axes[0]
    archs = set(points[points["device_name"] == CPU]["arch"])
    assert len(axis.lines) == 2 * len(archs)  # graph and XLA
    assert {line.get_linestyle() for line in axis.lines} == {"-", "--"}
    assert sorted(set(axis.lines[0].get_xdata())) == [1, 8, 16]  # the smoke sweep
    assert axis.get_xlabel() == "batch size (images, log scale)" and "images/s" in axis.get_ylabel()
    assert figure.texts[0].get_text().startswith("Throughput against batch size")
    # The side tables belong to the CPU rows (the synthetic GPU rows finished earlier): no GPU curve.
    assert charts.throughput_vs_batch(points, GPU) is None
    charts.plt.close(figure)


def test_freeze_depth_sweep_draws_a_line_per_model_from_frozen_to_finetune(summary):
    figure = charts.freeze_depth_sweep(summary, CPU)
    axis = figure.axes[0]
    lines = {c.get_label(): c for c in axis.containers if isinstance(c, ErrorbarContainer)}
    assert {"simple_cnn", "resnet_scratch", "resnet50", "mobilenet_v2", "hub_mobilenet_v2"} <= set(lines)
    xs = list(lines["simple_cnn"].lines[0].get_xdata())
    assert xs == [100, 75, 50, 25, 0]
    assert axis.get_xlim()[0] > axis.get_xlim()[1]  # reads from frozen (left) to fine-tuned (right)
    charts.plt.close(figure)


def test_write_report_writes_every_table_and_chart(built):
    folder, result = built
    for table in result.tables:
        frame = pd.read_csv(folder / "tables" / f"{table.name}.csv") if not table.frame.empty else None
        markdown = (folder / "tables" / f"{table.name}.md").read_text()
        assert markdown.startswith(f"## {table.title}")
        if frame is not None:
            assert len(frame) == len(table.frame)
    pngs = sorted((folder / "charts").rglob("*.png"))
    svgs = sorted((folder / "charts").rglob("*.svg"))
    assert len(pngs) == len(svgs) > 10
    cases = storage.read_results(folder).query("status == 'ok'")["case_id"].unique()
    curves = {p.stem for p in (folder / "charts" / "training").glob("*.png")}
    assert curves == {c for c in cases if not c.startswith("hub_")}  # the synthetic hub rows have no history
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in pngs)
    assert all(p.read_text().lstrip().startswith("<?xml") for p in svgs[:3])


def test_the_page_embeds_tables_images_failures_gaps_and_method(built):
    folder, result = built
    page = (folder / "report.html").read_text()
    images = re.findall(r'<img alt="[^"]*" src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(images) == len(list((folder / "charts").rglob("*.png")))
    assert 'src="http' not in page and "<link" not in page and "<script" not in page  # self-contained
    headline = 2  # the front and the budget answers
    assert page.count('<table class="dataframe data') == sum(not t.display.empty for t in result.tables) + headline
    assert "Test accuracy by architecture and regime" in page and "Keras Applications beside TF-Hub" in page
    assert "simple_cnn.frozen.digits.bad" in page and "Traceback" in page  # the failed case with its traceback
    assert "history/hub_mobilenet_v2.frozen.digits-s0.csv is missing" in page  # a gap is said, not a crash
    assert "How the numbers were measured" in page and "results/README.md" in page
    section = "How the numbers are measured"  # the page points at this section by name: it must exist
    assert f"('{section}')" in page and f"## {section}" in (FIXTURE.parent.parent / "README.md").read_text()
    fingerprint = storage.read_results(folder)["fingerprint"].iloc[0]
    assert f"fingerprint {fingerprint}" in page


def test_report_refuses_two_fingerprints_unless_forced(tmp_path):
    folder = tmp_path / "mixed"
    shutil.copytree(FIXTURE, folder)
    text = (folder / "results.csv").read_text()
    fingerprint = storage.read_results(folder)["fingerprint"].iloc[0]
    lines = text.splitlines()
    lines[-1] = lines[-1].replace(fingerprint, "0123456789ab").replace("2.21.0", "2.99.0")
    (folder / "results.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(SuiteError, match=r"mix 2 machine fingerprints \(differing: tf_version\)"):
        report.write_report(folder)
    assert len(report.build_report(folder, force=True, write=False).summary) > 20


def test_a_folder_of_failed_rows_only_still_gets_a_report(tmp_path, rows, capsys):
    storage.prepare(tmp_path)
    failed = rows[rows["status"] == "failed"].iloc[0]
    storage.append_row(tmp_path, {k: (None if pd.isna(v) else v) for k, v in failed.items()})
    assert main(["report", str(tmp_path)]) == 0
    printed = capsys.readouterr().out.split()
    assert printed == [str(tmp_path / p) for p in ("report.html", "summary.csv", "tables", "charts", "summary.md")]
    page = (tmp_path / "report.html").read_text()
    assert "simple_cnn.frozen.digits.bad" in page and "No case finished ok." in page
    assert "Not drawn" in page and "<img" not in page


def test_missing_and_broken_side_tables_are_gaps_not_crashes(tmp_path):
    folder = tmp_path / "gappy"
    shutil.copytree(FIXTURE, folder)
    rows = storage.read_results(folder)
    keep = rows["case_id"].isin(["simple_cnn.scratch.digits", "resnet50.frozen.digits"])
    rows[keep].to_csv(folder / "results.csv", index=False)  # two cases are enough, and quick to chart
    (folder / "history" / "simple_cnn.scratch.digits-s1.csv").unlink()
    (folder / "throughput" / "resnet50.frozen.digits-s0.csv").write_text("")
    (folder / "history" / "resnet50.frozen.digits-s0.csv").write_text("phase,epoch\nhead,1\n")
    result = report.build_report(folder)
    gaps = result.folder.gaps
    assert (
        "history/simple_cnn.scratch.digits-s1.csv is missing: no training curves for simple_cnn.scratch.digits seed 1"
        in gaps
    )
    assert any(g.startswith("throughput/resnet50.frozen.digits-s0.csv is unreadable") for g in gaps)
    assert any(g.startswith("history/resnet50.frozen.digits-s0.csv lacks columns loss, accuracy") for g in gaps)
    page = (folder / "report.html").read_text()
    assert "simple_cnn.scratch.digits-s1.csv is missing" in page
    assert (folder / "charts" / "training" / "simple_cnn.scratch.digits.png").is_file()  # seed 0 is still drawn


def test_a_chart_that_fails_to_draw_is_a_gap_and_the_rest_is_still_written(tmp_path, monkeypatch):
    folder = tmp_path / "small"
    shutil.copytree(FIXTURE, folder)
    rows = storage.read_results(folder)
    keep = rows["case_id"].isin(["simple_cnn.frozen.digits", "simple_cnn.finetune.digits"]) & (rows["device"] == "cpu")
    rows[keep].to_csv(folder / "results.csv", index=False)

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(charts, "freeze_depth_sweep", broken)
    result = report.build_report(folder)
    assert result.folder.gaps == ["freeze_depth: could not be drawn (RuntimeError: boom)"]
    assert result.charts["Freeze-depth sweep"].startswith("no model ran")
    assert len(result.charts["Accuracy against latency"]) == 1
    assert "freeze_depth: could not be drawn (RuntimeError: boom)" in (folder / "report.html").read_text()
