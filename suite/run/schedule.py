"""A night's run: which jobs, in what order, under the folder's lock, each row appended once.

``run_cases`` locks the results folder (a second run on it is refused),
repairs a half-written last row and chooses an executor; the planner
(``suite.run.plan.make_plan``) then decides, from the folder's earlier rows
alone, what this run will do; ``execute``
hands the plan to the executor (``suite.run.executors``) and appends each row as
its job finishes. It alone appends rows, so a ``kill -9`` at any moment loses
at most the jobs in flight, and rerunning the same command completes the set
without duplicates. After each row it calls ``after_row`` (``suite run``
passes a ``suite.report.live.LiveReport``, which rebuilds ``report.html``) and
names the page it rebuilt on the progress line.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path

from suite import storage
from suite.case import Case
from suite.environment import configure_device
from suite.errors import SuiteError
from suite.progress import View, duration
from suite.run import parallel
from suite.run.estimate import once_seconds
from suite.run.executors import Executor, make_executor
from suite.run.jobs import Job, outcome, unrun_row
from suite.run.lap import run_lap
from suite.run.plan import Machine, Plan, log_plan, make_plan
from suite.run.serve import final_serve
from suite.run.settings import RunSettings
from suite.run.slots import in_slots

AfterRow = Callable[[], Path | None]  # called after each row is appended; the path of a page it rebuilt, or None

log = logging.getLogger(__name__)


def run_cases(cases: list[Case], settings: RunSettings, after_row: AfterRow | None = None) -> list[dict]:
    """Runs every case for every seed of ``settings``; returns the rows written by this call.

    ``after_row`` is called after each row is appended (``suite run`` passes a ``LiveReport``).
    """
    results_dir = settings.results_dir
    if results_dir.exists() and not results_dir.is_dir():
        raise SuiteError(f"--results {results_dir} is a file, not a folder")
    try:
        results_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise storage.unwritable(results_dir, error.strerror) from None
    with storage.locked(results_dir):
        storage.prepare(results_dir)
        storage.forget_failed_sources(results_dir)  # a source that failed in an earlier run is tried again
        with closing(make_executor(settings)) as chosen:
            machine = Machine(environment=chosen.environment, device=chosen.device)
            plan = make_plan(cases, settings, machine, probe=chosen.probe)
            log_plan(plan)
            rows = execute(plan, chosen, after_row)
        final_lap(settings, machine, rows)  # alone: the executor has finished, and the folder is still locked
        final_serve(settings, machine, rows)  # then serving under load (suite.run.serve), in the same window
        return rows


def final_lap(settings: RunSettings, machine: Machine, rows: list[dict]) -> Path | None:
    """Times the folder's networks and formats side by side (``suite.run.lap``) where this run trained something
    or the folder has no lap yet, on this machine (not a Ray cluster's). A lap that fails is one logged line: the
    rows are already safe."""
    if settings.executor == "ray" and settings.address is not None:
        log.info("final lap: not run, as the jobs ran on a Ray cluster; run suite run again here to time them")
        return None
    if not any(r["status"] == "ok" for r in rows) and storage.lap_path(settings.results_dir).is_file():
        return None
    try:
        configure_device(machine.device)
        return run_lap(settings.results_dir, machine.environment, machine.device, settings.profile.measure)
    except Exception as error:  # noqa: BLE001 - any failure of the lap leaves the results as they are
        log.error("final lap failed (%s: %s); the report reads each case's own timing", type(error).__name__, error)
        return None


def execute(plan: Plan, executor: Executor, after_row: AfterRow | None = None) -> list[dict]:
    """Runs ``plan`` on ``executor``, appending each row as it comes; returns the rows, unusable jobs' first."""
    rows = [_unusable_row(job, why, executor) for job, why in plan.unusable]
    if executor.side_by_side:
        return rows + _side_by_side(plan.jobs, executor, after_row)
    if plan.settings.jobs > 1 and executor.device == "cpu":  # one GPU is not shared
        return rows + _append_each(*in_slots(plan, executor), after_row)
    return rows + _one_by_one(plan, executor, after_row)


def _unusable_row(job: Job, why: str, executor: Executor) -> dict:
    """The ``failed`` row of a job whose dataset can't be loaded, appended without starting a worker."""
    settings = executor.settings
    row = unrun_row(job.case, job.seed, settings.profile.name, executor.device, f"DatasetUnavailable: {why}")
    storage.append_row(settings.results_dir, row)
    return row


def _one_by_one(plan: Plan, executor: Executor, after_row: AfterRow | None = None) -> list[dict]:
    """Runs the jobs in turn; a job that would overrun ``--budget`` at its turn is not started."""
    queue, estimates = list(plan.jobs), plan.estimates
    profile, budget_s = plan.settings.profile.name, plan.settings.budget_s
    current: dict = {"job": None, "started": 0.0}
    started = time.perf_counter()
    view = View(
        total=len(queue),
        remaining_s=lambda s: estimates.remaining(queue, [(current["job"], s)] if current["job"] else [], profile),
    )

    def admitted() -> Iterator[Job]:
        while queue:
            job = queue.pop(0)
            guess = estimates(job, profile) or 0.0
            if budget_s is not None and time.perf_counter() - started + guess > budget_s:
                view.total -= 1
                view.line(f"{job.label}: not started, it would overrun --budget {duration(budget_s)}")
                continue
            current.update(job=job, started=time.perf_counter())
            view.start_job(job.label)
            yield job

    def finished(job: Job, row: dict) -> str:
        seconds = time.perf_counter() - current["started"]
        if row.get("status") == "ok":
            since = time.time() - seconds  # this run of the job, not an earlier one's holds
            timing_s = parallel.held_seconds(plan.settings.results_dir, job.label, "time", since)
            estimates.learn(job, seconds, once_seconds(row), timing_s)
        current["job"] = None
        return f"{outcome(row)} in {duration(seconds)}"

    return _append_each(executor.run_many(admitted(), view.event), executor, view, finished, after_row)


def _side_by_side(jobs: list[Job], executor: Executor, after_row: AfterRow | None) -> list[dict]:
    """Hands every job to the executor at once; ``--budget`` has already chosen them (``suite.run.plan``)."""
    view = View(total=len(jobs), remaining_s=lambda current_s: None)
    view.line(f"{len(jobs)} job(s) handed to the executor side by side")
    started = time.perf_counter()

    def finished(job: Job, row: dict) -> str:
        view.current = job.label
        return f"{outcome(row)} after {duration(time.perf_counter() - started)} of the run"

    return _append_each(executor.run_many(jobs, view.event), executor, view, finished, after_row)


def _append_each(
    results: Iterator[tuple[Job, dict]],
    executor: Executor,
    view: View,
    finished: Callable[[Job, dict], str],
    after_row: AfterRow | None = None,
) -> list[dict]:
    """Appends each ``(job, row)`` as it comes, tells the view, then calls ``after_row``; returns the rows."""
    rows: list[dict] = []
    try:
        for job, row in results:
            storage.append_row(executor.settings.results_dir, row)
            rows.append(row)
            view.finish_job(finished(job, row))
            rebuilt = after_row() if after_row is not None else None
            if rebuilt is not None:
                view.report(rebuilt)
    finally:
        view.close()
    return rows
