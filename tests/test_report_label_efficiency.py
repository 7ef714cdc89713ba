"""The label-efficiency section: curve points, the crossover rule on a hand-worked fixture, the chart, the page."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import PolyCollection

from suite import report, storage
from suite.report import label_efficiency as le

FIXTURE = Path(__file__).resolve().parent.parent / "results" / "fixtures" / "report-smoke"
DEVICE = "cpu: test"
ALL = 1257  # the digits training split: 125.7 images per class over 10 classes
# Test accuracy of each seed, by architecture, regime and train_per_class (0 = all), worked by hand below.
ACCURACY = {
    # alpha: scratch holds its own at 5 (mean .70 against frozen .70, seed std .10), is beaten at 10 (.62 against
    # finetune .80, stds .02 and 0), and holds from 25 on: .87 against finetune .88 (a tie, below transfer's mean)
    # and at all .965 against .97 (stds .01 and 0, 3 seeds: t interval wider than .005). Crossover: 25.
    ("alpha", "scratch"): {
        5: (0.60, 0.70, 0.80),
        10: (0.60, 0.62, 0.64),
        25: (0.85, 0.87, 0.89),
        0: (0.955, 0.965, 0.975),
    },
    ("alpha", "frozen"): {5: (0.70, 0.70, 0.70), 10: (0.75, 0.75, 0.75), 25: (0.85, 0.85, 0.85), 0: (0.90, 0.90, 0.90)},
    ("alpha", "finetune"): {
        5: (0.60, 0.60, 0.60),
        10: (0.80, 0.80, 0.80),
        25: (0.86, 0.88, 0.90),
        0: (0.97, 0.97, 0.97),
    },
    # beta: scratch 20 points below frozen everywhere, seed std .01: never.
    ("beta", "scratch"): {5: (0.29, 0.30, 0.31), 10: (0.39, 0.40, 0.41), 25: (0.49, 0.50, 0.51), 0: (0.59, 0.60, 0.61)},
    ("beta", "frozen"): {5: (0.79, 0.80, 0.81), 10: (0.79, 0.80, 0.81), 25: (0.79, 0.80, 0.81), 0: (0.79, 0.80, 0.81)},
}


def results_rows() -> pd.DataFrame:
    rows = []
    for (arch, regime), by_size in ACCURACY.items():
        for size, accuracies in by_size.items():
            for seed, accuracy in enumerate(accuracies):
                case_id = f"{arch}.{regime}.digits" + (f"@{size}" if size else "")
                rows.append(
                    {
                        "case_id": case_id,
                        "arch": arch,
                        "regime": regime,
                        "dataset": "digits",
                        "seed": seed,
                        "status": "ok",
                        "device_name": DEVICE,
                        "test_accuracy": accuracy,
                        "train_images": 10 * size if size else ALL,
                        "train_per_class": size,
                    }  # fmt: skip
                )
    rows.append({**rows[0], "seed": 9, "status": "failed", "test_accuracy": None})  # failed rows don't count
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def points() -> pd.DataFrame:
    return le.curve_points(results_rows())


def test_points_are_seed_means_and_stds_at_the_real_images_per_class(points):
    assert le.applies(results_rows()) and not le.applies(results_rows().assign(train_per_class=0))
    alpha = points[(points["arch"] == "alpha") & (points["regime"] == "scratch")].set_index("train_per_class")
    assert alpha.loc[10, "accuracy_mean"] == pytest.approx(0.62) and alpha.loc[10, "accuracy_std"] == pytest.approx(
        0.02
    )
    assert alpha.loc[5, "seeds"] == 3 and alpha.loc[5, "per_class"] == 5
    assert alpha.loc[0, "per_class"] == pytest.approx(125.7), "all sits at 1257 images over 10 classes"
    assert len(points) == 5 * 4 and set(points["line"]) == {f"{a}.{r}.digits" for a, r in ACCURACY}


def test_crossover_is_where_scratch_holds_its_own_from_then_on_and_never_otherwise(points):
    found = le.crossover(points).set_index("arch")
    alpha, beta = found.loc["alpha"], found.loc["beta"]
    assert alpha["crossover_train_per_class"] == 25 and alpha["transfer_regime"] == "finetune"
    assert alpha["gap_points"] == pytest.approx(-1.0), "a tie in the noise: scratch 1 point below transfer"
    assert pd.isna(beta["crossover_train_per_class"]) and beta["at_train_per_class"] == 0
    assert beta["gap_points"] == pytest.approx(-20.0) and beta["transfer_regime"] == "frozen"
    table = le.crossover_table(points).display.set_index("architecture")
    assert table.loc["alpha", "crossover (images per class)"] == "25"
    assert table.loc["beta", "crossover (images per class)"] == "never"
    assert table.loc["beta", "compared at"] == "all (126)" and table.loc["beta", "scratch %"] == "60.0 ± 1.0"


def test_scratch_ahead_at_every_size_crosses_at_the_smallest():
    ahead = results_rows().assign(test_accuracy=lambda r: r["test_accuracy"].where(r["regime"] != "scratch", 0.99))
    found = le.crossover(le.curve_points(ahead)).set_index("arch")
    assert list(found["crossover_train_per_class"]) == [5, 5]


def one_seed_of_beta(scratch_accuracies: list[float]) -> pd.DataFrame:
    """beta at one seed on 360 test images: frozen 90% at every size, scratch at sizes 5, 10, 25 and all."""
    one = results_rows().query("seed == 0 and status == 'ok'").assign(test_images=360)
    one = one[one["arch"] == "beta"].copy()
    one.loc[one["regime"] == "frozen", "test_accuracy"] = 0.90
    one.loc[one["regime"] == "scratch", "test_accuracy"] = scratch_accuracies
    return one


def test_one_seed_without_outcomes_is_tested_unpaired_by_the_two_test_set_intervals():
    """One seed, no per-image outcomes: each accuracy's Wilson interval on 360 images is about +-3 points, so
    1.5 points below frozen is a tie and 10 points below is not."""
    found = le.crossover(le.curve_points(one_seed_of_beta([0.80, 0.80, 0.885, 0.89]))).iloc[0]
    assert found["crossover_train_per_class"] == 25 and not found["paired"]
    assert found["transfer_minus_scratch_low"] < 0 < found["transfer_minus_scratch_high"]
    assert pd.isna(le.crossover(le.curve_points(one_seed_of_beta([0.80] * 4))).iloc[0]["crossover_train_per_class"])


def test_with_outcomes_the_crossover_uses_the_paired_test_which_sees_a_small_consistent_gap():
    """Scratch right on frozen's images less 7 of them (about 2 points), at every size: unpaired that is a tie,
    paired on the same images it is transfer ahead, so scratch never holds its own."""
    rows = one_seed_of_beta([0.9 - 7 / 360] * 4)
    frozen = (np.arange(360) < 324).astype(np.int8)
    scratch = frozen.copy()
    scratch[:7] = 0
    unpaired = le.crossover(le.curve_points(rows)).iloc[0]
    assert unpaired["crossover_train_per_class"] == 5 and not unpaired["paired"]
    rows[storage.OUTCOME] = [(0, scratch if r == "scratch" else frozen) for r in rows["regime"]]
    paired = le.crossover(le.curve_points(rows)).iloc[0]
    assert pd.isna(paired["crossover_train_per_class"]) and paired["paired"]
    assert paired["transfer_minus_scratch_low"] > 0 and paired["gap_points"] == pytest.approx(-700 / 360)


def test_chart_has_a_log_x_axis_a_band_per_line_and_all_at_its_real_count(points):
    figure = le.chart(points, DEVICE)
    axis = figure.axes[0]
    assert axis.get_xscale() == "log"
    bands = [c for c in axis.collections if isinstance(c, PolyCollection)]
    assert len(bands) == len(ACCURACY)
    assert [t.get_text() for t in axis.get_xticklabels()] == ["5", "10", "25", "all (126)"]
    assert axis.get_xticks()[-1] == pytest.approx(125.7)
    # alpha scratch at 10 per class: mean 62, std 2, so its band reaches from 60 to 64 there.
    lows = {}
    for band in bands:
        vertices = band.get_paths()[0].vertices
        at_ten = vertices[abs(vertices[:, 0] - 10) < 1e-9][:, 1]
        lows[round(at_ten.min(), 6), round(at_ten.max(), 6)] = True
    assert (60.0, 64.0) in lows
    assert le.chart(points, "gpu: none") is None


def test_report_gains_the_chart_and_table_only_where_there_are_sizes(tmp_path):
    built = report.build_report(FIXTURE, write=False)  # the fixture's rows are all at the whole split
    assert built.label_points is None and le.TABLE not in {t.name for t in built.tables}
    sized = tmp_path / "sized"
    shutil.copytree(FIXTURE, sized)
    rows = storage.read_results(sized)
    simple = rows[(rows["arch"] == "simple_cnn") & rows["regime"].isin(["scratch", "frozen"])]
    cut = simple.assign(case_id=simple["case_id"] + "@5", train_per_class=5, train_images=50)
    pd.concat([rows, cut]).to_csv(storage.results_path(sized), index=False)
    built = report.build_report(sized)
    assert le.HEADING in built.charts and le.TABLE in {t.name for t in built.tables} and built.charts[le.HEADING]
    assert list(sized.glob("charts/label_efficiency*.png")) and (sized / "tables" / f"{le.TABLE}.md").is_file()
    page = (sized / report.REPORT_FILE).read_text()
    assert "Label efficiency: test accuracy against training images per class" in page
    assert "where scratch holds its own against transfer" in page
    assert "where scratch holds its own against transfer" in (sized / report.HEADLINE_FILE).read_text()
