"""Results while you wait: the cheapest jobs first, and report.html rebuilt (atomically) as rows come in."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import pandas as pd
import pytest
from helpers import result_row

from suite import report, storage
from suite.cli import main
from suite.registry import get_case
from suite.report.live import MIN_GAP_S, SPACING, LiveReport
from suite.run import order
from suite.run import plan as planner
from suite.run.cost import make_work
from suite.run.executors import Job
from suite.run.settings import RunSettings

CASES = ("simple_cnn.scratch.digits", "simple_cnn.frozen.digits", "resnet50.finetune.digits", "simple_cnn.tuned.digits")


def jobs(*ids: str, seeds=(0,)) -> list[Job]:
    return [Job(case=get_case(i), seed=seed, key=f"{i}-{seed}") for seed in seeds for i in ids]


def labels(ordered: list[Job]) -> list[str]:
    return [job.label for job in ordered]


GFLOPS = {"simple_cnn": 0.02, "resnet50": 0.3}  # per image at 32 px, the order of the counted table's


def work(job: Job) -> float:
    return order.work_gflop(job.case, GFLOPS[job.case.arch], train_images=1000, eval_images=400)


def test_frozen_costs_less_than_finetune_which_costs_less_than_scratch():
    frozen, finetune, scratch = (get_case(f"resnet50.{r}.digits") for r in ("frozen", "finetune", "scratch"))
    assert order.passes(frozen) == 10.0  # 10 epochs of one forward pass
    assert order.passes(finetune) == 2.0 + 30.0  # 2 head epochs frozen, 10 epochs fully trained
    assert order.passes(frozen) < order.passes(get_case("resnet50.freeze75.digits")) < order.passes(finetune)
    assert order.passes(finetune) > order.passes(scratch) == 30.0  # the head phase costs a little more
    assert order.work_gflop(frozen, 1.0, 100, 0) == 1000.0


def test_cheap_jobs_run_first_and_tuned_last_seed_by_seed():
    given = jobs(*CASES, "resnet50.frozen.digits", seeds=(1, 0))
    ordered = order.cheapest_first(given, lambda job: None, work)
    assert labels(ordered) == [
        f"{case} seed {seed}"
        for seed in (0, 1)
        for case in (
            "simple_cnn.frozen.digits",  # 10 forward passes of the small network
            "simple_cnn.scratch.digits",  # 30
            "resnet50.frozen.digits",  # 10 of one 15 times larger: more than simple_cnn's 30
            "resnet50.finetune.digits",
            "simple_cnn.tuned.digits",  # a search: last, though its network is small
        )
    ]


def test_earlier_seconds_win_over_estimates_on_one_scale():
    # resnet50.finetune measured 5 s in an earlier run: cheaper than simple_cnn.scratch's estimate, which the
    # rate of simple_cnn.frozen (measured and estimated both) turns into seconds.
    given = jobs("simple_cnn.scratch.digits", "resnet50.finetune.digits", "simple_cnn.frozen.digits")
    seconds = {"resnet50.finetune.digits": 5.0, "simple_cnn.frozen.digits": 20.0}
    ordered = order.cheapest_first(given, lambda job: seconds.get(job.case.id), work)
    assert labels(ordered) == [
        "resnet50.finetune.digits seed 0",
        "simple_cnn.frozen.digits seed 0",
        "simple_cnn.scratch.digits seed 0",  # 3x the frozen one's work: about 60 s
    ]
    without = order.cheapest_first(given, lambda job: None, work)
    assert labels(without)[-1] == "resnet50.finetune.digits seed 0"


def test_jobs_without_any_figure_come_after_by_network_in_order_then_frozen_first():
    given = jobs(
        "resnet50.scratch.digits",
        "simple_cnn.scratch.digits",
        "resnet50.frozen.digits",
        "simple_cnn.finetune.digits",
        "simple_cnn.frozen.digits",
    )
    known = {"simple_cnn.finetune.digits": 30.0}
    ordered = order.cheapest_first(given, lambda job: known.get(job.case.id), lambda job: None)
    assert labels(ordered) == [
        "simple_cnn.finetune.digits seed 0",  # the only one with a figure
        "resnet50.frozen.digits seed 0",  # resnet50 came first in the given order; frozen before scratch
        "resnet50.scratch.digits seed 0",
        "simple_cnn.frozen.digits seed 0",
        "simple_cnn.scratch.digits seed 0",
    ]
    same = [Job(case=get_case("simple_cnn.frozen.digits"), seed=0, key=key) for key in ("b", "a")]
    assert [j.key for j in order.cheapest_first(same, lambda job: None, work)] == ["b", "a"]  # ties keep their order


def test_a_plan_without_budget_is_cheapest_first_from_the_folders_rows(monkeypatch, tmp_path):
    cases = [get_case(i) for i in CASES]
    env = {"suite_version": "0", "fingerprint": "f"}
    earlier = pd.DataFrame(  # an earlier run in the folder, on a machine where resnet50 was fast
        {
            "case_key": ["old1", "old2"],
            "case_id": ["resnet50.finetune.digits", "simple_cnn.frozen.digits"],
            "profile": ["smoke", "smoke"],
            "status": ["ok", "ok"],
            "case_seconds": [1.0, 50.0],
        }
    )
    monkeypatch.setattr(planner, "read_folder", lambda settings, machine: (earlier, pd.DataFrame()))
    monkeypatch.setattr(planner, "make_work", lambda datasets, first_seed=0: work)
    settings = RunSettings.build("smoke", tmp_path, seeds=1)
    plan = planner.make_plan(cases, settings, planner.Machine(environment=env, device="cpu"))
    assert [job.case.id for job in plan.jobs] == [
        "resnet50.finetune.digits",  # 1 s in the folder
        "simple_cnn.frozen.digits",  # 50 s in the folder
        "simple_cnn.scratch.digits",  # 2.35 x simple_cnn.frozen's work, at the median rate of the two: about 59 s
        "simple_cnn.tuned.digits",
    ]


def test_work_comes_from_the_cached_count_and_the_datasets_sizes_without_building(monkeypatch, tmp_path):
    from suite.measure import arch_facts

    monkeypatch.setenv("SUITE_CACHE_DIR", str(tmp_path))  # its own cache: test_archs may have counted resnet50
    from suite.data.datasets import Datasets

    arch_facts.counted("simple_cnn", counter=lambda arch: {"params_10_class": 1, "gflops": 0.5})
    monkeypatch.setattr(arch_facts, "count", lambda arch: pytest.fail("planning built a model"))
    estimate = make_work(Datasets())
    frozen = get_case("simple_cnn.frozen.digits")
    case = dataclasses.replace(frozen, epochs=2, train_limit=100, eval_limit=10, image_size=16)
    # 0.5 GFLOPs counted at 32 px, the case runs at 16 px: 1/4 of it; 100 images x 2 forward passes, 20 held out x 4
    assert estimate(Job(case=case, seed=0, key="k")) == pytest.approx(0.5 / 4 * (100 * 2 + 20 * 4))
    everything = dataclasses.replace(frozen, epochs=1, train_limit=0, eval_limit=0)  # every split whole
    sizes = Datasets()("digits").sizes
    held_out = sizes["val"] + sizes["test"]
    assert estimate(Job(case=everything, seed=0, key="k")) == pytest.approx(0.5 * (sizes["train"] + 3 * held_out))
    resnet50 = Job(case=get_case("resnet50.frozen.digits"), seed=0, key="k")
    assert estimate(resnet50) > 0  # never counted here: the figure shipped for its row and this Keras
    monkeypatch.setattr(arch_facts, "shipped", lambda arch: None)
    assert estimate(resnet50) is None  # neither: unknown


def test_the_suites_own_networks_are_counted_at_planning_when_nothing_is_known(monkeypatch, tmp_path):
    """Shipped, a network's figure is read, not counted; where it is not (a changed row), the suite's own networks
    are counted at planning (a second each) and cached."""
    from suite.data.datasets import Datasets
    from suite.measure import arch_facts

    monkeypatch.setenv("SUITE_CACHE_DIR", str(tmp_path))
    job = Job(case=get_case("resnet_scratch.frozen.digits"), seed=0, key="k")
    shipped = make_work(Datasets())(job)
    assert shipped > 0 and arch_facts.cached("resnet_scratch") is None
    monkeypatch.setattr(arch_facts, "shipped", lambda arch: None)
    assert make_work(Datasets())(job) == pytest.approx(shipped, rel=1e-9)  # the same count, built here
    assert arch_facts.cached("resnet_scratch")["gflops"] == pytest.approx(0.0821, rel=0.05)  # docs/archs.md


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_rebuilds_are_spaced_by_what_the_last_one_cost(tmp_path):
    clock, built = Clock(), []

    def build(folder, force):
        built.append(folder)
        clock.now += 10.0  # a rebuild that takes 10 s

    live = LiveReport(tmp_path, build=build, clock=clock)
    assert live() == tmp_path / "report.html"  # the first row's rebuild is at once
    assert live() is None and len(built) == 1
    clock.now += SPACING * 10.0 - 1
    assert live() is None
    clock.now += 1
    assert live() == tmp_path / "report.html" and len(built) == 2
    assert SPACING * 10.0 >= MIN_GAP_S


def test_a_raising_report_builder_logs_one_line_and_returns(tmp_path, caplog):
    def broken(folder, force):
        raise ValueError("the chart library is gone\nsecond line")

    with caplog.at_level(logging.WARNING, logger="suite.report.live"):
        assert LiveReport(tmp_path, build=broken)() is None
    assert [r.getMessage() for r in caplog.records] == [
        "report not rebuilt (the run goes on): ValueError: the chart library is gone"
    ]


def test_report_html_is_replaced_whole_never_rewritten_in_place(tmp_path):
    storage.prepare(tmp_path)
    storage.append_row(tmp_path, result_row("simple_cnn.scratch.digits", 0.9))
    page = report.write_report(tmp_path)[0]
    with page.open(encoding="utf-8") as reader:  # a browser that opened the page before the rebuild
        storage.append_row(tmp_path, result_row("simple_cnn.frozen.digits", 0.5))
        report.write_report(tmp_path)
        old = reader.read()
    assert old.rstrip().endswith("</html>") and "simple_cnn.frozen.digits" not in old
    assert "simple_cnn.frozen.digits" in page.read_text()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".report.html")] == []


def test_a_failed_write_keeps_the_old_page_and_leaves_no_temporary_file(tmp_path, monkeypatch):
    page = tmp_path / "report.html"
    page.write_text("old page")

    def full(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("os.replace", full)
    with pytest.raises(OSError):
        report.write_atomically(page, "new page")
    assert page.read_text() == "old page" and [p.name for p in tmp_path.iterdir()] == ["report.html"]


RUN = ("simple_cnn.scratch.digits", "simple_cnn.frozen.digits", "simple_cnn.finetune.digits")


@pytest.fixture
def fake_cases(monkeypatch, tmp_path):
    """``suite run`` inline with every case faked to an ok row; records what report.html held as each began."""
    from suite.run.jobs import base_row
    from suite.run.runner import Runner

    seen: list[str | None] = []
    page = tmp_path / "report.html"

    def run_case(self, case, seed):
        seen.append(page.read_text() if page.is_file() else None)
        row = base_row(case, seed, self.profile.name, self.device)
        return {**row, **result_row(case.id, 0.5 + 0.1 * len(seen)), "finished_at": row["started_at"]}

    monkeypatch.setattr(Runner, "run_case", run_case)
    args = ["run", *RUN, "--profile", "smoke", "--results", str(tmp_path), "--executor", "inline"]
    return args, seen


def test_report_html_has_a_chart_after_the_first_case_and_the_progress_line_names_it(fake_cases, tmp_path, capsys):
    args, seen = fake_cases
    assert main(args) == 0
    assert seen[0] is None  # no page before the first case
    assert "data:image/png;base64," in seen[1] and "Accuracy against latency" in seen[1]
    out = capsys.readouterr().out
    assert f"report: {tmp_path / 'report.html'} (1/3 done)" in out
    assert len(storage.read_results(tmp_path)) == 3


def test_a_report_that_cant_be_rebuilt_during_the_run_doesnt_fail_it(fake_cases, tmp_path, monkeypatch, capsys):
    args, seen = fake_cases

    def broken(folder, force=False):
        raise RuntimeError("no fonts")

    monkeypatch.setattr("suite.report.live.write_report", broken)
    assert main(args) == 0
    assert seen == [None, None, None]  # never rebuilt while running
    out = capsys.readouterr().out
    assert out.count("report not rebuilt (the run goes on): RuntimeError: no fonts\n") == 1  # then spaced out
    assert "report: " not in out.split("done: ")[0]
    assert len(storage.read_results(tmp_path)) == 3 and Path(tmp_path / "report.html").is_file()  # the final one
