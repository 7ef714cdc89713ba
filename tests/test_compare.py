"""``suite compare``: two stored runs side by side, deltas, noise marks, one chart, the fingerprint guard.

Run A is ``results/fixtures/report-smoke``; run B (``report-rerun``) really ran two of its
cases again under the quick profile (more data, more epochs) and one under smoke again.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.text import Annotation

from suite import storage
from suite.cli import main
from suite.errors import SuiteError
from suite.report import charts, compare
from suite.report import html as report_html

FIXTURES = Path(__file__).resolve().parent.parent / "results" / "fixtures"
RUN_A, RUN_B = FIXTURES / "report-smoke", FIXTURES / "report-rerun"


@pytest.fixture(scope="module")
def comparison() -> compare.Comparison:
    return compare.compare_runs(RUN_A, RUN_B)


def ok_rows(folder: Path, case_id: str, device: str = "cpu") -> pd.DataFrame:
    rows = storage.read_results(folder)
    return rows[(rows["status"] == "ok") & (rows["case_id"] == case_id) & (rows["device"] == device)]


def test_cases_in_both_runs_are_matched_and_the_rest_listed(comparison):
    b_cases = set(storage.read_results(RUN_B)["case_id"])
    assert set(comparison.frame["case_id"]) == b_cases
    assert set(comparison.frame["device"]) == {"cpu"}  # the synthetic GPU rows of A have no partner in B
    # A holds a second (synthetic GPU) device, so the cases in one run only say which device they ran on.
    assert (
        "resnet50.frozen.digits (cpu)" in comparison.only_a and "simple_cnn.scratch.digits (gpu)" in comparison.only_a
    )
    assert "simple_cnn.scratch.digits (cpu)" not in comparison.only_a and comparison.only_b == []


def test_deltas_are_b_minus_a_from_the_rows(comparison):
    frame = comparison.frame.set_index("case_id")
    for case_id in frame.index:
        a, b = ok_rows(RUN_A, case_id), ok_rows(RUN_B, case_id)
        row = frame.loc[case_id]
        assert row["accuracy_delta_points"] == pytest.approx(
            100 * (b["test_accuracy"].mean() - a["test_accuracy"].mean())
        )
        latency_a, latency_b = a["latency_p50_ms"].median(), b["latency_p50_ms"].median()
        assert row["latency_delta_percent"] == pytest.approx(100 * (latency_b / latency_a - 1))
        throughput_a, throughput_b = a["throughput_ips"].median(), b["throughput_ips"].median()
        assert row["throughput_delta_percent"] == pytest.approx(100 * (throughput_b / throughput_a - 1))


def unpaired_noise_points(a_mean, a_half_seeds, b_mean, b_half_seeds, images) -> float:
    """The unpaired test's larger half-width of B minus A, in points, worked from scipy's Wilson and t parts."""
    from scipy import stats

    def sides(mean, seed_half):
        wilson = stats.binomtest(round(mean * images), images).proportion_ci(method="wilson")
        return (mean - wilson.low) ** 2 + seed_half**2, (wilson.high - mean) ** 2 + seed_half**2

    (a_below, a_above), (b_below, b_above) = sides(a_mean, a_half_seeds), sides(b_mean, b_half_seeds)
    return 100 * max((b_above + a_below) ** 0.5, (b_below + a_above) ** 0.5)


def test_without_outcomes_the_accuracy_noise_is_the_unpaired_tests_from_both_runs_intervals():
    from scipy import stats

    # A: 3 seeds spread by 2 points on 1,000 test images; B: one seed on the same 1,000 images.
    frame = figures(
        test_accuracy_mean_a=[0.90] * 3, test_accuracy_std_a=[0.02] * 3, seeds_a=[3] * 3, test_images_a=[1000] * 3,
        test_accuracy_mean_b=[0.95] * 3, test_accuracy_std_b=[0.0] * 3, seeds_b=[1] * 3, test_images_b=[1000] * 3,
    )  # fmt: skip
    found = compare.deltas(frame)
    half_a = stats.t.ppf(0.975, 2) * 0.02 / 3**0.5  # about 5 points: the seeds dominate
    assert found["accuracy_noise_points"].iloc[0] == pytest.approx(unpaired_noise_points(0.90, half_a, 0.95, 0, 1000))
    assert not found["accuracy_paired"].iloc[0] and found["accuracy_changed"].iloc[0] == False  # noqa: E712
    # Without a test-set size, one seed has no interval: the noise is unknown.
    assert pd.isna(compare.deltas(figures())["accuracy_noise_points"].iloc[2])


def test_one_seed_runs_are_marked_by_their_test_sets_wilson_intervals():
    one_seed = dict(seeds_a=[1] * 3, seeds_b=[1] * 3, test_images_a=[360] * 3, test_images_b=[360] * 3)
    b = [328 / 360, 349 / 360, 342 / 360]  # whole images right: +1.1, +7.0 and +5.0 points over A's 324 / 360
    frame = compare.deltas(figures(test_accuracy_mean_b=b, **one_seed))
    expected = [unpaired_noise_points(0.90, 0.0, p, 0.0, 360) for p in b]  # about 4.2 to 4.9 points
    assert frame["accuracy_noise_points"].tolist() == pytest.approx(expected, rel=1e-3)
    assert frame["accuracy_changed"].tolist() == [False, True, True]


def test_with_outcomes_a_rerun_is_tested_paired_on_its_seeds_and_images():
    """B is A with 7 of 360 right answers lost on each of 3 seeds (2 points): paired, that is a change; the
    unpaired test of the same means calls it noise."""
    rng = np.random.default_rng(0)
    a = (rng.random((3, 360)) < 0.9).astype(np.int8)
    b = a.copy()
    for seed in range(3):
        b[seed, np.flatnonzero(a[seed])[:7]] = 0
    means = dict(test_accuracy_mean_a=[a.mean()] * 3, test_accuracy_mean_b=[b.mean()] * 3)
    spread = dict(
        test_accuracy_std_a=[a.mean(axis=1).std(ddof=1)] * 3, test_accuracy_std_b=[b.mean(axis=1).std(ddof=1)] * 3
    )
    sizes = dict(seeds_a=[3] * 3, seeds_b=[3] * 3, test_images_a=[360] * 3, test_images_b=[360] * 3)
    unpaired = compare.deltas(figures(**means, **spread, **sizes))
    kept = dict(outcomes_a=[dict(enumerate(a))] * 3, outcomes_b=[dict(enumerate(b))] * 3)
    paired = compare.deltas(figures(**means, **spread, **sizes, **kept))
    assert not unpaired["accuracy_changed"].iloc[0] and paired["accuracy_changed"].iloc[0]
    assert paired["accuracy_paired"].iloc[0] and paired["accuracy_delta_high_points"].iloc[0] < 0


def test_the_quick_rerun_of_simple_cnn_is_marked_beyond_the_noise(comparison):
    frame = comparison.frame.set_index("case_id")
    row = frame.loc["simple_cnn.scratch.digits"]
    # Smoke: 128 images, one epoch, near chance; quick: the whole training split, eight epochs.
    assert row["accuracy_delta_points"] > 30 and row["accuracy_changed"]
    assert row["accuracy_delta_points"] > row["accuracy_noise_points"]


def figures(**columns) -> pd.DataFrame:
    """Two runs' figures for three made-up cases; ``columns`` overrides any of them."""
    base = {
        "test_accuracy_mean_a": [0.90, 0.90, 0.90],
        "test_accuracy_mean_b": [0.91, 0.95, 0.95],
        "test_accuracy_std_a": [0.01, 0.01, 0.01],
        "test_accuracy_std_b": [0.01, 0.01, 0.01],
        "seeds_a": [3, 3, 1],
        "seeds_b": [3, 3, 3],
        "latency_p50_ms_a": [1.0, 1.0, 1.0],
        "latency_p50_ms_b": [1.1, 1.5, 1.5],
        "latency_p50_ci_low_ms_a": [0.9, 0.9, None],
        "latency_p50_ci_high_ms_a": [1.2, 1.2, None],
        "latency_p50_ci_low_ms_b": [1.0, 1.3, 1.4],
        "latency_p50_ci_high_ms_b": [1.3, 1.6, 1.6],
        "throughput_ips_a": [100.0, 100.0, 100.0],
        "throughput_ips_b": [90.0, 150.0, 100.0],
    }
    return pd.DataFrame({**base, **columns})


def test_changes_are_marked_only_beyond_the_noise():
    frame = compare.deltas(figures())
    # Accuracy: +1 point is inside the noise of two 3-seed t-intervals at std 1 point (about ±3.5), +5 is not;
    # with one seed on a side and no test-set size the noise is unknown and nothing is marked.
    assert frame["accuracy_changed"].tolist() == [False, True, pd.NA]
    # Latency: overlapping p50 intervals are noise, separate ones a change, a missing interval unknown.
    assert frame["latency_changed"].tolist() == [False, True, pd.NA]
    assert frame["latency_delta_percent"].tolist() == pytest.approx([10.0, 50.0, 50.0])
    assert frame["throughput_delta_percent"].tolist() == pytest.approx([-10.0, 50.0, 0.0])
    assert frame["accuracy_delta_points"].tolist() == pytest.approx([1.0, 5.0, 5.0])


def test_the_table_marks_changes_with_a_star(comparison):
    table = comparison.table()
    display = table.display.set_index("case")
    frame = comparison.frame.set_index("case_id")
    for case_id, row in frame.iterrows():
        assert display.loc[case_id, "Δ accuracy (points)"].endswith(" *") == bool(row["accuracy_changed"] is True)
        assert display.loc[case_id, "Δ latency (%)"].endswith(" *") == bool(row["latency_changed"] is True)
    assert "Δ is B minus A" in table.note and "A = report-smoke, B = report-rerun" in table.note


def test_the_chart_draws_both_runs_with_an_arrow_per_case(comparison):
    figure = compare.chart(comparison, "cpu")
    axis = figure.axes[0]
    arrows = [t for t in axis.texts if isinstance(t, Annotation) and not t.get_text()]
    assert len(arrows) == len(comparison.frame)
    labels = {t.get_text() for t in axis.texts if isinstance(t, Annotation) and t.get_text()}
    changed = comparison.frame[
        comparison.frame["accuracy_changed"].fillna(False) | comparison.frame["latency_changed"].fillna(False)
    ]
    assert labels == {".".join(c.split(".")[:2] + c.split(".")[3:]) for c in changed["case_id"]}
    assert axis.get_xscale() == "log" and axis.get_xlabel() == "latency p50 at batch 1 (ms, log scale)"
    legend = {t.get_text() for t in figure.legends[0].get_texts()}
    assert {"A: report-smoke", "B: report-rerun"} <= legend
    assert figure.texts[0].get_text() == "Accuracy against latency: A → B\ncpu"
    charts.plt.close(figure)


def test_suite_compare_prints_the_table_and_writes_its_folder(tmp_path, capsys):
    out = tmp_path / "cmp"
    assert main(["compare", str(RUN_A), str(RUN_B), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "| simple_cnn.scratch.digits" in printed and "Only in A" in printed
    assert {p.name for p in out.iterdir()} == {
        "compare.csv",
        "compare.md",
        "compare.json",
        "compare.html",
        "accuracy_vs_latency.png",
        "accuracy_vs_latency.svg",
    }
    assert len(pd.read_csv(out / "compare.csv")) == len(storage.read_results(RUN_B)["case_id"].unique())
    page = (out / "compare.html").read_text()
    assert "data:image/png;base64," in page and "<table" in page
    skeleton = report_html.page("Compare: report-smoke → report-rerun", []).removesuffix("</body></html>\n")
    assert page.startswith(skeleton) and page.endswith("</body></html>\n")  # the report's own page skeleton


def test_the_default_folder_is_inside_run_b(tmp_path):
    a, b = tmp_path / "nightly-a", tmp_path / "nightly-b"
    shutil.copytree(RUN_A, a)
    shutil.copytree(RUN_B, b)
    assert main(["compare", str(a), str(b)]) == 0
    assert (b / "compare-nightly-a" / "compare.csv").is_file()


def test_compare_refuses_other_machines_unless_forced(tmp_path, capsys):
    other = tmp_path / "other"
    shutil.copytree(RUN_B, other)
    rows = storage.read_results(other)
    text = (other / "results.csv").read_text().replace(rows["fingerprint"].iloc[0], "0123456789ab")
    (other / "results.csv").write_text(text.replace(rows["cpu_model"].iloc[0], "Another CPU"))
    assert main(["compare", str(RUN_A), str(other), "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert "mix 2 machine fingerprints (differing: cpu_model)" in err and "--force" in err
    assert err.count("\n") == 1
    assert main(["compare", str(RUN_A), str(other), "--out", str(tmp_path / "x"), "--force"]) == 0


def test_runs_without_a_common_case_are_a_clear_error(tmp_path):
    storage.prepare(tmp_path)
    with pytest.raises(SuiteError, match="no case that ran ok in both"):
        compare.compare_runs(RUN_A, tmp_path)


def with_formats(source: Path, folder: Path, figures: dict[str, tuple[float, float]]) -> Path:
    """A copy of ``source`` with a ``formats.csv`` for simple_cnn.scratch.digits on the CPU, seed 0:
    format -> (latency p50 ms, test accuracy)."""
    shutil.copytree(source, folder)
    row = ok_rows(folder, "simple_cnn.scratch.digits").iloc[0]
    storage.prepare_formats(folder)
    for name, (p50, accuracy) in figures.items():
        identity = {c: row.get(c) for c in storage.FORMAT_IDENTITY}
        storage.append_format_row(folder, {**identity, "seed": 0, "format": name, "status": "ok",
                                           "latency_p50_ms": p50, "test_accuracy": accuracy})  # fmt: skip
    return folder


def test_deployed_formats_are_set_side_by_side_b_minus_a(tmp_path, capsys):
    a = with_formats(RUN_A, tmp_path / "a", {"keras": (1.0, 0.90), "litert_int8": (0.5, 0.88)})
    b = with_formats(RUN_B, tmp_path / "b", {"keras": (1.0, 0.92), "litert_int8": (0.4, 0.89), "onnx": (0.8, 0.92)})
    table = compare.compare_runs(a, b).formats
    frame = table.frame.set_index("format")
    assert list(frame.index) == ["keras", "litert_int8"]  # onnx ran in B only
    assert frame.loc["litert_int8", "accuracy_delta_points"] == pytest.approx(100 * (0.89 - 0.88))
    assert frame.loc["litert_int8", "latency_delta_percent"] == pytest.approx(100 * (0.4 / 0.5 - 1))
    assert table.display.set_index("format").loc["litert_int8", "Δ latency (%)"] == "-20.0"
    assert main(["compare", str(a), str(b), "--out", str(tmp_path / "out")]) == 0
    assert "Deployed formats, A → B" in capsys.readouterr().out
    stored = pd.read_csv(tmp_path / "out" / "compare_formats.csv")
    assert len(stored) == 2 and "Deployed formats, A → B" in (tmp_path / "out" / "compare.html").read_text()
    assert compare.compare_runs(RUN_A, b).formats.note == "Only B has a formats.csv."
    assert compare.compare_runs(RUN_A, RUN_B).formats is None
