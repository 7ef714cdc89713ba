"""The headline, the accuracy intervals, the tied latency front and the charts that draw only what was measured.

Built from the stored fixtures (``results/fixtures``) and a few made-up summaries; nothing trains.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.container import ErrorbarContainer
from scipy import stats

from suite import report, storage
from suite.cli import main
from suite.data.glyphs import CLASSES
from suite.report import charts
from suite.report.accuracy_chart import FRONT_GID, NETWORK_GID
from suite.report.caveats import caveats
from suite.report.folder import ResultsFolder
from suite.report.front import best_under_budgets, budget_ladder, latency_front, winner_text
from suite.report.headline import Headline
from suite.report.intervals import accuracy_interval, difference
from suite.report.summary import per_case
from suite.report.sweep_chart import SEGMENT_GID, measured_runs

FIXTURES = Path(__file__).resolve().parent.parent / "results" / "fixtures"
CPU = "cpu: Intel(R) Xeon(R) Processor @ 2.80GHz x2"


@pytest.fixture(scope="module", params=["report-smoke", "report-rerun", "report-one-seed"])
def cases(request) -> pd.DataFrame:
    return per_case(storage.read_results(FIXTURES / request.param))


def test_one_seed_gets_the_wilson_interval_and_several_seeds_add_their_t_interval_in_quadrature():
    """Seeds share the test images, so the Wilson part counts them once (324 of 360), never once per seed."""
    frame = pd.DataFrame(
        {
            "test_accuracy_mean": [0.9, 0.9, 0.9],
            "test_accuracy_std": [0.0, 0.001, 0.03],
            "seeds": [1, 3, 3],
            "test_images": [360, 360, 360],
        }
    )
    low, high = accuracy_interval(frame)
    one = stats.binomtest(324, 360).proportion_ci(method="wilson")
    assert (low[0], high[0]) == pytest.approx((one.low, one.high))
    for row, std in ((1, 0.001), (2, 0.03)):
        t_half = stats.t.ppf(0.975, 2) * std / 3**0.5
        expected = (0.9 - math.hypot(0.9 - one.low, t_half), 0.9 + math.hypot(one.high - 0.9, t_half))
        assert (low[row], high[row]) == pytest.approx(expected)
    assert high[1] - low[1] == pytest.approx(one.high - one.low, abs=0.002)  # tiny spread: the test set dominates
    assert high[2] - low[2] > 2 * stats.t.ppf(0.975, 2) * 0.03 / 3**0.5  # large spread: wider than the seeds' own


def test_the_front_keeps_ties_and_drops_only_cases_beaten_clearly(cases):
    front = latency_front(cases)
    assert len(front) == cases["latency_p50_ms"].notna().sum()
    # One network's regimes share one band.
    assert (front.groupby(["device_name", "network"])[["band_low_ms", "band_high_ms"]].nunique() == 1).all().all()
    # Brute force: off the front exactly when a case more accurate by the test (suite.stats, checked in
    # tests/test_stats.py) is the same network or wholly faster.
    for _, row in front.iterrows():
        peers = front[(front["device_name"] == row["device_name"]) & (front["dataset"] == row["dataset"])]
        beaten = any(
            difference(other, row).verdict == "higher"
            and (other["network"] == row["network"] or other["band_high_ms"] < row["band_low_ms"])
            for _, other in peers.iterrows()
        )
        assert row["on_front"] == (not beaten), row["case_id"]
    assert front.groupby(["device_name", "dataset"])["on_front"].any().all()  # every panel has a front


def test_an_overlapping_slower_network_is_tied_not_ranked():
    def case(arch: str, accuracy: float, p50: float, low: float, high: float) -> dict:
        return dict(case_id=f"{arch}.scratch.digits", arch=arch, regime="scratch", dataset="digits", weights="none",
                    device="cpu", device_name="cpu: t", seeds=1, test_accuracy_mean=accuracy, test_accuracy_std=0.0,
                    test_images=360, image_size=32, latency_p50_ms=p50, latency_p50_ci_low_ms=low,
                    latency_p50_ci_high_ms=high)  # fmt: skip

    summary = pd.DataFrame(
        [
            case("fast", 0.90, 1.0, 0.9, 1.1),
            case("tied", 0.80, 1.05, 1.0, 1.2),  # less accurate, but its band overlaps fast's: tied
            case("slow", 0.85, 2.0, 1.9, 2.1),  # less accurate and clearly slower than fast: off
            case("best", 0.95, 5.0, 4.0, 6.0),
        ]
    )
    front = latency_front(summary).set_index("arch")
    assert front["on_front"].to_dict() == {"fast": True, "tied": True, "slow": False, "best": True}
    assert report.pareto_front(summary, "latency_p50_ms", "test_accuracy_mean")["arch"].tolist() == ["fast", "best"]


def test_the_latency_chart_puts_one_networks_regimes_on_one_band_and_rings_the_front():
    summary = report.summarise(storage.read_results(FIXTURES / "report-smoke"))
    figure = charts.accuracy_against(summary, "latency", CPU)
    axis = figure.axes[0]
    front = latency_front(summary[summary["device_name"] == CPU])
    bars = [c for c in axis.containers if isinstance(c, ErrorbarContainer)]
    xs = sorted(round(float(c.lines[0].get_xdata()[0]), 9) for c in bars)
    assert xs == sorted(round(float(x), 9) for x in front["network_ms"])  # a case sits at its network's latency
    joined = {
        line.get_gid()[len(NETWORK_GID) :]: line
        for line in axis.lines
        if (line.get_gid() or "").startswith(NETWORK_GID)
    }
    several = front.groupby("network").filter(lambda g: len(g) > 1)
    assert set(joined) == set(several["network"]) and joined
    for network, line in joined.items():
        members = several[several["network"] == network]
        assert set(line.get_xdata()) == {members["network_ms"].iloc[0]}  # a vertical line: one latency
        assert sorted(line.get_ydata()) == pytest.approx(
            sorted([100 * members["test_accuracy_mean"].min(), 100 * members["test_accuracy_mean"].max()])
        )
    rings = [line for line in axis.lines if line.get_gid() == FRONT_GID][0]
    on = front[front["on_front"]]
    drawn = sorted(zip(rings.get_xdata(), rings.get_ydata()))
    expected = sorted(zip(on["network_ms"], 100 * on["test_accuracy_mean"]))
    assert [x for x, _ in drawn] == pytest.approx([x for x, _ in expected])
    assert [y for _, y in drawn] == pytest.approx([y for _, y in expected])
    for container in bars:  # every accuracy carries a vertical interval
        assert container.has_yerr
    charts.plt.close(figure)


def test_the_freeze_sweep_joins_only_measured_neighbours():
    assert measured_runs(["finetune", "frozen", "freeze50", "freeze25"]) == [
        ["frozen"],
        ["freeze50", "freeze25", "finetune"],
    ]
    summary = report.summarise(storage.read_results(FIXTURES / "report-smoke"))
    gap = summary[~((summary["arch"] == "simple_cnn") & (summary["regime"] == "freeze75"))]  # freeze75 did not run
    figure = charts.freeze_depth_sweep(gap, CPU)
    axis = figure.axes[0]
    segments = {}
    for line in axis.lines:
        if (line.get_gid() or "").startswith(SEGMENT_GID):
            segments.setdefault(line.get_gid()[len(SEGMENT_GID) :], []).append(list(line.get_xdata()))
    assert segments["simple_cnn"] == [[50, 25, 0]]  # nothing across the missing 75%; frozen stands alone
    assert segments["resnet_scratch"] == [[100, 75, 50, 25, 0]]
    assert "resnet50" not in segments and "mobilenet_v2" not in segments  # frozen and finetune only: no line
    markers = {c.get_label(): list(c.lines[0].get_xdata()) for c in axis.containers if isinstance(c, ErrorbarContainer)}
    assert markers["simple_cnn"] == [100, 50, 25, 0] and markers["resnet50"] == [100, 0]
    assert all(c.lines[0].get_linestyle() == "None" for c in axis.containers)  # markers carry no line of their own
    charts.plt.close(figure)


def test_budgets_name_the_most_accurate_case_within_each_p90(cases):
    best = best_under_budgets(cases)
    assert not best.empty
    for _, row in best.iterrows():
        within = cases[(cases["device_name"] == row["device_name"]) & (cases["latency_p90_ms"] <= row["budget_ms"])]
        assert row["test_accuracy_mean"] == within["test_accuracy_mean"].max()
        assert row["latency_p90_ms"] <= row["budget_ms"]


def test_caveats_come_from_the_rows():
    rows = storage.read_results(FIXTURES / "report-smoke")
    # The fixture was pretrained on 26 letters; at chance on today's classes, the caveat must say so.
    rows.loc[rows["weights"] == "source:glyphs", "source_accuracy"] = 1 / len(CLASSES)
    smoke = caveats(rows)
    text = "\n".join(smoke)
    assert "Seeds: 2 per case." in text
    assert "1 to 8 epochs" in text  # the .long user case trained for 8
    chance = f"{100 / len(CLASSES):.1f}%"
    assert f"chance on the {len(CLASSES)} letters is {chance}" in text and "near chance" in text
    assert "resnet50 @ 32 px on cpu" in text  # its regimes were timed with non-overlapping p50 intervals
    assert "resnet50 @ 32 px (cpu): graph (graph/XLA p50 = 0.67)" in text
    one = "\n".join(caveats(storage.read_results(FIXTURES / "report-one-seed")))
    assert "Seeds: 1 per case. With one seed" in one and "near chance" not in one  # its source reached 48%


def test_summary_md_and_the_page_carry_the_same_headline_above_everything(tmp_path):
    folder = tmp_path / "report-one-seed"
    shutil.copytree(FIXTURES / "report-one-seed", folder)
    report.write_report(folder)
    markdown = (folder / "summary.md").read_text()
    page = (folder / "report.html").read_text()
    headline = Headline.of(storage.read_results(folder))
    assert markdown == headline.to_markdown() and headline.to_html() in page
    assert page.index('id="headline"') < page.index('id="environment"') < page.index("<img")
    assert page.index('id="headline"') < page.index('id="method"')
    assert markdown.startswith("# Which classifier, trained which way, gives the best accuracy")
    for case_id in headline.front["case"]:
        assert case_id in markdown
    assert all("[" in text for text in headline.front["test accuracy % [95% CI]"])  # one seed: still an interval
    one_seed = per_case(storage.read_results(folder)).set_index("case_id")["seeds"] < 2
    for case in headline.front["case"]:  # a one-seed front member says what its interval leaves out
        case_id = case.split(" ")[0]
        assert case.endswith("(one seed: interval omits training variance)") == bool(one_seed[case_id]), case
    assert page.count("<figure>") == page.count("<figcaption>") > 0


def test_the_execution_mode_caveat_names_graph_only_networks_apart():
    from suite.report.caveats import xla_caveats

    rows = pd.DataFrame(
        {
            "device_name": ["cpu: AMD EPYC x2"] * 3,
            "arch": ["resnet50", "resnet50", "simple_cnn"],
            "image_size": [32, 32, 32],
            "xla": [False, False, False],
            "xla_speedup": [0.8, 0.7, float("nan")],  # simple_cnn: a profile that timed graph mode only
        }
    )
    chosen, graph_only = xla_caveats(rows)
    assert "resnet50 @ 32 px (cpu): graph (graph/XLA p50 = 0.75)" in chosen and "simple_cnn" not in chosen
    assert graph_only == "Graph mode only, XLA not timed (the profile's measurement): simple_cnn @ 32 px (cpu)."
    assert xla_caveats(rows.iloc[2:]) == [graph_only]  # no "chosen" sentence when nothing was compared
    seeds = rows.iloc[:1].assign(xla=True, xla_speedup=1.3)
    untimed = pd.concat([seeds, seeds.assign(xla=None, xla_speedup=float("nan"))] * 1 + [seeds.assign(xla=None)])
    (picked,) = xla_caveats(untimed)
    assert "resnet50 @ 32 px (cpu): XLA (graph/XLA p50 = 1.30)." in picked, "untimed seeds chose no mode: not rows"


def budget_rows(seeds: int) -> pd.DataFrame:
    """Three networks: a (1 ms, 90%) and b (1.5 ms, 90.5%) that the paired test can't separate, c (3 ms, 99%)."""
    rows = []
    for arch, p90, accuracy in (("a", 1.0, 0.90), ("b", 1.5, 0.905), ("c", 3.0, 0.99)):
        outcomes = {
            seed: (np.random.default_rng([seed, ord(arch)]).random(360) < accuracy).astype(np.int8)
            for seed in range(seeds)
        }
        means = [o.mean() for o in outcomes.values()]
        rows.append(dict(case_id=f"{arch}.scratch.digits", arch=arch, regime="scratch", dataset="digits",
                         device_name="cpu: t", seeds=seeds, test_accuracy_mean=np.mean(means),
                         test_accuracy_std=np.std(means, ddof=1) if seeds > 1 else 0.0, test_images=360,
                         latency_p90_ms=p90, outcomes=outcomes))  # fmt: skip
    return pd.DataFrame(rows)


def test_a_budget_whose_best_the_paired_test_cannot_separate_is_tied_and_names_no_single_winner():
    best = best_under_budgets(budget_rows(3), {("cpu: t", "digits"): [2.0, 4.0]}).set_index("budget_ms")
    assert best.loc[2.0, "tied_with"] == ("a.scratch.digits",) and not best.loc[2.0, "crowned"]
    assert winner_text(best.loc[2.0]) == "tied: b.scratch.digits, a.scratch.digits"
    assert best.loc[4.0, "tied"] == 0 and best.loc[4.0, "crowned"]
    assert winner_text(best.loc[4.0]) == "c.scratch.digits"


def test_a_one_seed_pick_is_shown_but_not_crowned():
    best = best_under_budgets(budget_rows(1), {("cpu: t", "digits"): [4.0]}).iloc[0]
    assert best["case_id"] == "c.scratch.digits" and best["tied"] == 0 and not best["crowned"]
    assert winner_text(best) == "c.scratch.digits (one seed: not crowned)"


def test_the_ladder_spans_the_measured_p90s_and_two_runs_over_one_range_are_asked_alike():
    assert budget_ladder(pd.Series([1.5, 4.5, 8.5])) == [2.0, 5.0, 10.0]
    assert budget_ladder(pd.Series([1.4, 4.9, 9.9])) == [2.0, 5.0, 10.0], "a rerun's p90s moved: same budgets"
    assert budget_ladder(pd.Series([0.31, 2.0, 140.0])) == [0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0]
    assert budget_ladder(pd.Series([3.0])) == [5.0] and budget_ladder(pd.Series([], dtype=float)) == []


def test_a_case_whose_p90_interval_straddles_a_budget_is_named_at_the_edge_not_dropped():
    """c (99%) has p90 3.0 ms in [2.6, 4.4]: at 4 ms it straddles, so b answers with c at the edge; at 5 ms c is
    wholly within and answers alone; at 2.8 ms (a user's budget) b answers too, as c's interval straddles 2.8."""
    rows = budget_rows(3).assign(latency_p90_ci_low_ms=[0.9, 1.4, 2.6], latency_p90_ci_high_ms=[1.1, 1.6, 4.4])
    best = best_under_budgets(rows, [2.0, 2.8, 4.0, 5.0]).set_index("budget_ms")
    assert best.loc[4.0, "at_edge"] == ("c.scratch.digits",) and best.loc[4.0, "case_id"] == "b.scratch.digits"
    assert not best.loc[4.0, "crowned"]
    assert winner_text(best.loc[4.0]).endswith("; at the edge (p90 interval straddles the budget): c.scratch.digits")
    assert best.loc[5.0, "case_id"] == "c.scratch.digits" and best.loc[5.0, "at_edge"] == ()
    assert best.loc[2.8, "at_edge"] == ("c.scratch.digits",)
    alone = best_under_budgets(rows[rows["arch"] == "c"], [4.0]).iloc[0]
    assert alone["case_id"] == "c.scratch.digits" and alone["edge"] and not alone["crowned"]
    assert winner_text(alone) == "c.scratch.digits (its p90 interval straddles the budget; none lies wholly within)"


def test_the_users_budgets_are_kept_in_the_folder_and_asked_by_every_later_report(tmp_path, capsys):
    folder = tmp_path / "smoke"
    shutil.copytree(FIXTURES / "report-smoke", folder)
    assert main(["report", str(folder), "--budgets", "10,2,2"]) == 0
    assert json.loads((folder / storage.BUDGETS_FILE).read_text()) == {"latency_budgets_ms": [2.0, 10.0]}
    assert ResultsFolder.read(folder).budgets() == (2.0, 10.0)
    summary = (folder / "summary.md").read_text()
    assert "≤ 2 " in summary and "≤ 10 " in summary
    capsys.readouterr()
    for bad in ("2,fast", "0", "-1,3", "nan"):
        assert main(["report", str(folder), f"--budgets={bad}"]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("suite report: error: --budgets takes positive milliseconds") and "\n" not in err, err
    assert ResultsFolder.read(folder).budgets() == (2.0, 10.0), "a bad --budgets leaves the stored ones alone"
    (folder / storage.BUDGETS_FILE).write_text("not json")
    assert main(["report", str(folder)]) == 2
    assert "is not a budgets file" in capsys.readouterr().err


def test_the_page_tables_and_charts_test_paired_as_the_headline_does(tmp_path):
    """finetune is scratch's network with 7 of its 324 right answers lost on every seed: the paired test puts it
    below scratch, off the front, although the two intervals overlap; every part of the report says the same."""
    storage.prepare(tmp_path)
    scratch = (np.arange(360) < 324).astype(np.int8)
    finetune = scratch.copy()
    finetune[:7] = 0
    for regime, correct in (("scratch", scratch), ("finetune", finetune)):
        for seed in range(3):
            storage.write_predictions(tmp_path, f"net.{regime}.digits", seed, np.zeros(360), 1 - correct)
            storage.append_row(tmp_path, dict(
                case_id=f"net.{regime}.digits", arch="net", regime=regime, dataset="digits", weights="none",
                device="cpu", device_name="cpu: t", status="ok", seed=seed, fingerprint="f" * 12,
                test_accuracy=correct.mean(), test_images=360, image_size=32, latency_p50_ms=1.0,
                latency_p50_ci_low_ms=0.9, latency_p50_ci_high_ms=1.1, latency_p90_ms=1.2,
            ))  # fmt: skip
    report.write_report(tmp_path)
    table = pd.read_csv(tmp_path / "tables" / "latency_front.csv").set_index("case_id")
    assert table["on_front"].to_dict() == {"net.finetune.digits": False, "net.scratch.digits": True}
    headline = Headline.of(ResultsFolder.read(tmp_path).results)
    assert list(headline.front["case"]) == ["net.scratch.digits"]
