"""``suite run --jobs N``: small networks train side by side, and no timing ever overlaps another job's training."""

from __future__ import annotations

import itertools
import multiprocessing
import os
import time
from pathlib import Path

import pandas as pd
import pytest
from helpers import one_error_line, smoke_args

from suite import storage
from suite.case import Case
from suite.cli import main
from suite.environment import environment
from suite.measure import speed
from suite.report.folder import ResultsFolder
from suite.run import parallel, slots
from suite.run.estimate import Estimates
from suite.run.jobs import Job
from suite.storage.speed import read_probes


def _case(arch: str = "simple_cnn", regime: str = "scratch") -> Case:
    return Case(arch=arch, regime=regime, dataset="digits")


def test_small_networks_take_one_slot_and_the_rest_take_all():
    assert parallel.slots(_case(), 100_000, jobs=2) == 1
    assert parallel.slots(_case("resnet50"), 23_608_202, jobs=2) == 2  # above SIDE_BY_SIDE_MAX_PARAMS: alone
    assert parallel.slots(_case(), None, jobs=2) == 2, "a network of unknown size runs alone"
    assert parallel.slots(_case(regime="tuned"), 100_000, jobs=2) == 2, "a search may rank by latency: alone"
    assert parallel.slots(_case(), 100_000, jobs=1) == 1
    assert parallel.threads(1, 2, cores=2) == 1 and parallel.threads(1, 2, cores=8) == 4
    assert parallel.threads(2, 2, cores=2) is None, "a job alone keeps TensorFlow's default: every core"
    assert parallel.default_jobs(2) == 2 and parallel.default_jobs(1) == 1 and parallel.default_jobs(64) == 2


def test_overlaps_names_a_timing_beside_another_jobs_training_only():
    holds = [
        {"job": "a", "phase": "train", "start": 0.0, "end": 5.0},
        {"job": "b", "phase": "train", "start": 1.0, "end": 4.0},  # training beside training: allowed
        {"job": "a", "phase": "time", "start": 5.0, "end": 6.0},  # after both trainings: allowed
        {"job": "c", "phase": "train", "start": 5.5, "end": 9.0},  # ... but c trained while a timed
    ]
    assert [(a["job"], b["job"]) for a, b in parallel.overlaps(holds)] == [("a", "c")]


def _hold(results: str, job: str, phase: str, seconds: float, ready) -> None:
    ready.wait()
    with parallel.holding(Path(results), job, phase):
        time.sleep(seconds)


def test_the_timing_lock_waits_for_training_to_end_and_training_waits_for_timing(tmp_path):
    """Three processes: two train (shared), one asks to time (exclusive) while they hold the lock."""
    context = multiprocessing.get_context("spawn")
    ready = context.Event()
    workers = [
        context.Process(target=_hold, args=(str(tmp_path), "a", "train", 1.5, ready)),
        context.Process(target=_hold, args=(str(tmp_path), "b", "train", 1.5, ready)),
    ]
    for worker in workers:
        worker.start()
    ready.set()
    time.sleep(0.5)  # both trainings hold the lock by now
    timer = context.Process(target=_hold, args=(str(tmp_path), "t", "time", 0.2, ready))
    timer.start()
    for worker in [*workers, timer]:
        worker.join(timeout=30)
        assert worker.exitcode == 0
    holds = parallel.read_holds(tmp_path)
    trains = [h for h in holds if h["phase"] == "train"]
    assert len(trains) == 2 and trains[0]["start"] < trains[1]["end"] and trains[1]["start"] < trains[0]["end"]
    assert parallel.overlaps(holds) == []


def _train_in_epochs(results: str, epochs: int, ready) -> None:
    ready.wait()
    with parallel.holding(Path(results), "trainer", "train"):
        for _ in range(epochs):
            time.sleep(0.3)  # an epoch
            parallel.YieldToTiming().on_epoch_end(0)


def test_a_job_waiting_to_time_waits_for_one_epoch_of_another_jobs_training_not_all_of_it(tmp_path):
    context = multiprocessing.get_context("spawn")
    ready = context.Event()
    trainer = context.Process(target=_train_in_epochs, args=(str(tmp_path), 10, ready))
    trainer.start()
    ready.set()
    time.sleep(1.0)  # the trainer is in its epochs
    timer = context.Process(target=_hold, args=(str(tmp_path), "t", "time", 0.1, ready))
    timer.start()
    for worker in (trainer, timer):
        worker.join(timeout=30)
        assert worker.exitcode == 0
    holds = parallel.read_holds(tmp_path)
    timed = next(h for h in holds if h["phase"] == "time")
    trains = [h for h in holds if h["phase"] == "train"]
    assert timed["end"] < max(h["end"] for h in trains), "the timer went between two epochs, before training ended"
    assert parallel.overlaps(holds) == []


def test_the_eta_counts_a_side_by_side_job_at_its_share_and_never_zero_for_a_running_job():
    earlier = pd.DataFrame({"case_key": ["k1", "k2"], "case_id": ["a", "b"], "profile": ["p", "p"]})
    earlier = earlier.assign(case_seconds=[60.0, 100.0], status="ok")
    one, two = (Job(case=_case(), seed=0, key=key) for key in ("k1", "k2"))
    estimates = Estimates(earlier)
    assert estimates.remaining([one, two], [], "p") == pytest.approx(160.0)
    assert estimates.remaining([one, two], [], "p", share=lambda job: 0.5) == pytest.approx(80.0)
    assert estimates.remaining([], [(two, 30.0)], "p") == pytest.approx(70.0)
    assert estimates.remaining([], [(two, 300.0)], "p") == pytest.approx(10.0), "overrun: a tenth, not 0 s"


def test_jobs_must_be_positive_and_local(tmp_path, capsys):
    assert main(smoke_args("simple_cnn.scratch.digits", results=tmp_path, more=["--jobs", "0"])) == 2
    assert "--jobs must be at least 1" in one_error_line(capsys)
    more = ["--jobs", "2", "--executor", "inline"]
    assert main(smoke_args("simple_cnn.scratch.digits", results=tmp_path, more=more)) == 2
    assert "--executor local" in one_error_line(capsys)


@pytest.fixture(scope="module")
def two_jobs_run(tmp_path_factory) -> Path:
    """Four small cases, two seeds, ``--jobs 2``: the suite's plain CNN known as small, so its jobs pair up."""
    results = tmp_path_factory.mktemp("jobs2")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(slots, "params_of", lambda arch: 100_000 if arch == "simple_cnn" else None)
        cases = ["simple_cnn.scratch.digits", "simple_cnn.frozen.digits", "resnet_scratch.scratch.digits"]
        assert main(smoke_args(*cases, results=results, more=["--jobs", "2", "--seeds", "2", "--device", "cpu"])) == 0
    return results


def test_under_two_jobs_no_timing_overlaps_any_training(two_jobs_run):
    holds = parallel.read_holds(two_jobs_run)
    jobs = {h["job"] for h in holds}
    timed = [h["job"] for h in holds if h["phase"] == "time"]
    assert len(jobs) == 6 and sorted(timed) == sorted(j for j in jobs if j.endswith("seed 0")), "seed 0 timed once"
    assert all({"train", "export"} <= {h["phase"] for h in holds if h["job"] == j} for j in jobs)
    trains = [h for h in holds if h["phase"] == "train"]
    side_by_side = [
        (a, b) for a, b in itertools.combinations(trains, 2) if a["start"] < b["end"] and b["start"] < a["end"]
    ]
    assert side_by_side, "two small jobs trained at once"
    assert parallel.overlaps(holds) == [], "a job timed while another trained or timed"
    probes = read_probes(environment()["fingerprint"], speed.PROBE)
    mine = probes[probes["folder"] == str(two_jobs_run)]
    assert sorted(mine["where"]) == ["job"] * 3 + ["lap"], "each timed job probed the machine, and the lap once"


def test_under_two_jobs_each_row_says_its_threads_and_keeps_the_machine_fingerprint(two_jobs_run):
    frame = pd.read_csv(storage.results_path(two_jobs_run))
    assert len(frame) == 6 and (frame["status"] == "ok").all()
    threads = frame.set_index(["case_id", "seed"])["job_threads"]
    assert (threads.loc["simple_cnn.scratch.digits"] == 1).all(), "side by side: one of the two cores"
    assert (threads.loc["resnet_scratch.scratch.digits"] == len(os.sched_getaffinity(0))).all(), "alone: all"
    assert frame["fingerprint"].nunique() == 1, "a job's share of the cores is not another machine"
    timed = frame.set_index("seed")["latency_p50_ms"].notna()
    assert timed.loc[0].all() and not timed.loc[1].any(), "smoke times each case's first seed only (timed_seeds=1)"
    folder = ResultsFolder.read(two_jobs_run)
    assert len(folder.throughput_points()) and not folder.gaps, "an untimed seed's missing curve is no gap"
    assert main(smoke_args("simple_cnn.scratch.digits", results=two_jobs_run, more=["--seeds", "2"])) == 0
    assert len(pd.read_csv(storage.results_path(two_jobs_run))) == 6, "a rerun finds every job done"
