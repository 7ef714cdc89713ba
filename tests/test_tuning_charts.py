"""The tuned cases' charts, from a made-up ``tuning/<case_id>/trials.csv`` (nothing trains)."""

from __future__ import annotations

import html
import shutil
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import pytest
from scipy import stats

from suite import report
from suite.report import tuning_chart

FIXTURE = Path(__file__).resolve().parent.parent / "results" / "fixtures" / "report-smoke"
CASE = "simple_cnn.tuned.digits"
SMALL = "resnet_small.tuned.digits"  # three completed trials: no importance chart


def trials(statuses: list[str], scores: list[float | None]) -> pd.DataFrame:
    """A trials table as ``write_trials_table`` writes it: one search, numeric and categorical hyperparameters."""
    count = len(statuses)
    return pd.DataFrame(
        {
            "search": "abc123",
            "seed": 0,
            "tuner": "random",
            "trial": range(count),
            "status": statuses,
            "score": scores,
            "val_accuracy": scores,
            "message": ["" if s == "COMPLETED" else "ValueError: boom" for s in statuses],
            "hp_optimizer": ["adam", "sgd", "adam", "sgd", "adam", "nadam", "adam"][:count],
            "hp_learning_rate": [0.001, 0.01, 0.003, 0.1, 0.03, 0.0003, 0.002][:count],
            "hp_dropout": [0.1, 0.2, 0.3, 0.1, 0.0, 0.4, 0.25][:count],
            "hp_batch_size": [32] * count,  # not varied: left out
            "hp_tuner_epochs": [1, 1, 3, 3, 9, 9, 9][:count],  # Hyperband's bookkeeping: left out
        }
    )


FULL = trials(
    ["COMPLETED", "COMPLETED", "FAILED", "COMPLETED", "COMPLETED", "FAILED", "COMPLETED"],
    [0.50, 0.42, None, 0.61, 0.58, None, 0.70],
)


def test_importance_is_abs_spearman_for_numbers_and_the_spread_of_means_for_categories():
    done = FULL[FULL["status"] == "COMPLETED"]
    ranks = tuning_chart.importance(FULL).set_index("hyperparameter")
    assert set(ranks.index) == {"optimizer", "learning_rate", "dropout"}  # batch_size constant, tuner_* bookkeeping
    for name in ("learning_rate", "dropout"):
        expected = abs(stats.spearmanr(done[f"hp_{name}"], done["score"]).statistic)
        assert ranks.loc[name, "value"] == pytest.approx(expected)
        assert ranks.loc[name, "measure"] == tuning_chart.SPEARMAN
    means = done.groupby("hp_optimizer")["score"].mean()  # adam 0.60 (0.50, 0.58, 0.70), sgd 0.515
    assert ranks.loc["optimizer", "value"] == pytest.approx(means.max() - means.min())
    assert ranks.loc["optimizer", "value"] == pytest.approx((0.50 + 0.58 + 0.70) / 3 - (0.42 + 0.61) / 2)
    assert ranks.loc["optimizer", "measure"] == tuning_chart.SPREAD


def test_score_chart_draws_the_running_best_and_marks_failed_trials_apart():
    figure = tuning_chart.score_by_trial(FULL, CASE)
    axis = figure.axes[0]
    lines = {line.get_gid(): line for line in axis.get_lines() if line.get_gid()}
    best = next(line for gid, line in lines.items() if gid.startswith(tuning_chart.BEST_GID))
    assert list(best.get_xdata()) == [0, 1, 3, 4, 6]
    assert list(best.get_ydata()) == pytest.approx([0.50, 0.50, 0.61, 0.61, 0.70])
    assert best.get_drawstyle() == "steps-post"
    failed = lines[tuning_chart.FAILED_GID]
    assert list(failed.get_xdata()) == [2, 5] and failed.get_marker() == "x" and failed.get_color() == "red"
    dots = [line for line in axis.get_lines() if line.get_marker() == "o"]
    assert [list(line.get_xdata()) for line in dots] == [[0, 1, 3, 4, 6]]  # failed trials are not dots
    plt.close(figure)


def test_importance_chart_has_a_bar_per_hyperparameter_and_needs_four_completed_trials():
    figure = tuning_chart.importance_chart(FULL, CASE)
    widths = {
        axis.get_xlabel(): sorted(round(p.get_width(), 6) for p in axis.patches) for axis in figure.axes if axis.patches
    }
    expected = tuning_chart.importance(FULL).groupby("measure")["value"].apply(lambda v: sorted(round(x, 6) for x in v))
    assert widths == expected.to_dict()
    plt.close(figure)
    few = trials(["COMPLETED", "FAILED", "COMPLETED", "COMPLETED"], [0.5, None, 0.6, 0.4])
    assert tuning_chart.importance_chart(few, CASE) is None
    assert "3 completed trial(s)" in tuning_chart.why_no_importance(few)


def test_the_page_has_the_tuned_cases_heading_charts_and_captions(tmp_path):
    folder = tmp_path / "report-smoke"
    shutil.copytree(FIXTURE, folder)
    for case_id, table in ((CASE, FULL), (SMALL, trials(["COMPLETED"] * 3 + ["FAILED"], [0.5, 0.6, 0.4, None]))):
        (folder / "tuning" / case_id).mkdir(parents=True)
        table.to_csv(folder / "tuning" / case_id / "trials.csv", index=False)
    (folder / "tuning" / "broken.tuned.digits").mkdir()
    (folder / "tuning" / "broken.tuned.digits" / "trials.csv").write_text("trial,status\n0,COMPLETED\n")
    report.build_report(folder)
    charts = folder / "charts" / "tuning"
    assert sorted(p.name for p in charts.glob("*.png")) == [
        f"{SMALL}-score.png",
        f"{CASE}-importance.png",
        f"{CASE}-score.png",
    ]
    page = html.unescape((folder / "report.html").read_text())
    assert tuning_chart.HEADING in page
    assert tuning_chart.CAPTIONS["score"] in page
    assert tuning_chart.CAPTIONS["importance"].format(n=5) in page
    assert "No importance chart: 3 completed trial(s)" in page
    assert "tuning/broken.tuned.digits/trials.csv lacks columns score" in page  # a gap, not a crash
