"""A night's run: which jobs, in what order, under the folder's lock, each row appended once.

``run_cases`` locks the results folder (a second run on it is refused),
repairs a half-written last row, refuses a folder measured on another machine,
checks the input that would fail every case, skips the jobs whose key already
has an ``ok`` row, fits the rest to ``--budget``, and hands each job to an
executor (``suite.executors``): one at a time (``local``, ``inline``) or side
by side (``ray``), each row appended as its job finishes. It alone appends
rows, so a ``kill -9`` at any moment loses at most the jobs in flight, and
rerunning the same command completes the set without duplicates.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from pathlib import Path

import pandas as pd

from suite import budget, storage
from suite.errors import SuiteError
from suite.executors import Job, Settings, make_executor
from suite.profiles import Profile
from suite.progress import View, duration
from suite.registry import Case

log = logging.getLogger(__name__)


def done_keys(frame: pd.DataFrame) -> set[tuple[str, int]]:
    """``(case_key, seed)`` of the rows of ``frame`` (a folder's results) already ``ok``: what a rerun skips."""
    ok = frame[(frame["status"] == "ok") & frame["case_key"].ne("")]
    return {(key, int(seed)) for key, seed in zip(ok["case_key"], ok["seed"])}


def refuse_other_machines(results_dir: Path, frame: pd.DataFrame, here: dict) -> None:
    """``SuiteError`` if ``frame`` (the results of ``results_dir``) holds ok rows measured under another machine
    fingerprint than ``here`` (``suite.environment.environment()`` of the machines that run the jobs)."""
    from suite.environment import differing_fields

    ok = frame[frame["status"] == "ok"]
    others = ok[ok["fingerprint"] != here["fingerprint"]]
    if len(others):
        differing = differing_fields(pd.concat([others, pd.DataFrame([here])], ignore_index=True))
        raise SuiteError(
            f"{results_dir} holds {len(others)} row(s) measured under another machine fingerprint "
            f"(differing: {', '.join(differing)}); choose a new --results folder, "
            "or pass --force to add rows that are not comparable"
        )


def run_cases(
    cases: list[Case],
    profile: Profile,
    results_dir: Path,
    *,
    seeds: int,
    first_seed: int = 0,
    device: str = "auto",
    data_dir: str | None = None,
    force: bool = False,
    executor: str = "local",
    timeout_s: float | None = None,
    budget_s: float | None = None,
    address: str | None = None,
) -> list[dict]:
    """Runs every case for seeds ``first_seed..first_seed+seeds-1``; returns the rows written by this call.

    ``timeout_s`` defaults to the profile's ``case_timeout_s``; ``address`` is
    the Ray cluster of ``executor="ray"`` (None: a local Ray instance).
    """
    from suite.environment import configure_device, environment

    results_dir = Path(results_dir)
    if results_dir.exists() and not results_dir.is_dir():
        raise SuiteError(f"--results {results_dir} is a file, not a folder")
    try:
        results_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise storage.unwritable(results_dir, error.strerror) from None
    with storage.locked(results_dir):
        storage.prepare(results_dir)
        settings = Settings(profile.name, results_dir, device, data_dir, timeout_s or profile.case_timeout_s, address)
        if executor == "ray":  # the jobs' machines say which device and fingerprint the rows will carry
            runner = make_executor(executor, settings)
            env, local_device = runner.environment, "cpu"
        else:
            device = local_device = configure_device(device)
            env = environment()
            runner = make_executor(executor, dataclasses.replace(settings, device=device))
        try:
            return _run_cases(
                cases, profile, results_dir, runner, env, seeds, first_seed, local_device, force, budget_s
            )
        finally:
            if hasattr(runner, "close"):
                runner.close()


def _run_cases(
    cases: list[Case],
    profile: Profile,
    results_dir: Path,
    runner,
    env: dict,
    seeds: int,
    first_seed: int,
    local_device: str,
    force: bool,
    budget_s: float | None,
) -> list[dict]:
    """``run_cases`` once the folder is locked and the executor chosen: guard, preflight, plan, run."""
    from suite.runner import Runner, case_key

    earlier = storage.read_results(results_dir)  # read once: the guard, the resume and the estimates use it
    if not force:
        refuse_other_machines(results_dir, earlier, env)
    # Preflight reads datasets and weights files here; under ray it needs no GPU here.
    unusable = Runner(profile, results_dir, device=local_device, data_dir=runner.settings.data_dir).preflight(cases)
    # Seed 0 of every case before any seed 1: a night cut short still covers every case once.
    seed_range = range(first_seed, first_seed + seeds)
    jobs = [Job(case, seed, case_key(case, env)) for seed in seed_range for case in cases]
    done = set() if force else done_keys(earlier)
    pending = [job for job in jobs if (job.key, job.seed) not in done]
    if len(pending) < len(jobs):
        log.info(
            "%d of %d job(s) already done in %s (same case, suite version and machine); --force redoes them",
            len(jobs) - len(pending),
            len(jobs),
            results_dir,
        )
    for dataset, why in unusable.items():
        log.warning("%s can't be used (%s); its cases become failed rows", dataset, why)
    device = runner.settings.device
    rows = [
        _unusable_row(job, unusable[job.case.dataset], profile, device, results_dir)
        for job in pending
        if job.case.dataset in unusable
    ]
    pending = [job for job in pending if job.case.dataset not in unusable]
    estimates = budget.Estimates(earlier)
    if budget_s is not None:
        pending = _fit_to_budget(pending, estimates, runner, profile, budget_s)
    if hasattr(runner, "run_many"):
        return rows + _run_side_by_side(pending, runner, results_dir)
    return rows + _run_jobs(pending, runner, estimates, profile, results_dir, budget_s)


def _unusable_row(job: Job, why: str, profile: Profile, device: str, results_dir: Path) -> dict:
    """The ``failed`` row of a job whose dataset can't be loaded, appended without starting a worker."""
    from suite.runner import unrun_row

    row = unrun_row(job.case, job.seed, profile.name, device, f"DatasetUnavailable: {why}")
    storage.append_row(results_dir, row)
    return row


def _fit_to_budget(
    pending: list[Job], estimates: budget.Estimates, runner, profile: Profile, budget_s: float
) -> list[Job]:
    """Probes the jobs with no estimate, orders them and logs which will not fit ``budget_s``."""
    from suite.regimes import REGIMES

    probes: dict[tuple, dict | None] = {}
    for job in pending:
        if estimates(job, profile.name) is not None or not hasattr(runner, "probe"):
            continue
        shape = (job.case.arch, job.case.dataset, job.case.image_size, job.case.batch_size)
        if shape not in probes:
            log.info("probing %s for --budget ...", job.case.id)
            probes[shape] = runner.probe(job)
        if probes[shape] is not None:
            head_first = REGIMES[job.case.regime].head_first
            estimates.probed[job.key] = budget.probe_estimate(job, probes[shape], profile, head_first)
    fits, left_out = budget.plan(pending, lambda job: estimates(job, profile.name), budget_s)
    planned = sum(estimates(job, profile.name) or 0.0 for job in fits)
    log.info("--budget %s: %d job(s) planned, about %s", duration(budget_s), len(fits), duration(planned))
    for job, seconds in left_out:
        log.info("  will not fit: %s (about %s)", job.label, duration(seconds))
    return fits


def _run_jobs(
    pending: list[Job],
    runner,
    estimates: budget.Estimates,
    profile: Profile,
    results_dir: Path,
    budget_s: float | None,
) -> list[dict]:
    """Runs the jobs one by one, appending each row as it comes; returns the rows."""
    rows: list[dict] = []
    queue = list(pending)
    current: dict = {"job": None}
    started = time.perf_counter()

    def remaining(current_s: float) -> float | None:
        return estimates.remaining(queue, current["job"], current_s, profile.name)

    view = View(total=len(queue), remaining_s=remaining)
    try:
        while queue:
            job = queue.pop(0)
            guess = estimates(job, profile.name)
            if budget_s is not None and time.perf_counter() - started + (guess or 0.0) > budget_s:
                view.total -= 1
                view.line(f"{job.label}: not started, it would overrun --budget {duration(budget_s)}")
                continue
            current["job"] = job
            view.start_job(job.label)
            job_started = time.perf_counter()
            row = runner.run(job, view.event)
            storage.append_row(results_dir, row)
            seconds = time.perf_counter() - job_started
            estimates.learn(job, seconds)
            current["job"] = None
            rows.append(row)
            view.finish_job(f"{_outcome(row)} in {duration(seconds)}")
    finally:
        view.close()
    return rows


def _run_side_by_side(pending: list[Job], runner, results_dir: Path) -> list[dict]:
    """Hands every job to ``runner.run_many`` at once; appends each row as its job finishes; returns the rows.

    ``--budget`` has already chosen the jobs (``_fit_to_budget``); with jobs
    side by side there is no "next job" to hold back at run time.
    """
    rows: list[dict] = []
    view = View(total=len(pending), remaining_s=lambda current_s: None)
    view.line(f"{len(pending)} job(s) handed to the executor side by side")
    started = time.perf_counter()
    try:
        for job, row in runner.run_many(pending, view.event):
            storage.append_row(results_dir, row)
            rows.append(row)
            view.current = job.label
            view.finish_job(f"{_outcome(row)} after {duration(time.perf_counter() - started)} of the run")
    finally:
        view.close()
    return rows


def _outcome(row: dict) -> str:
    """``ok (test accuracy ..., p50 ...)`` or ``failed: error``, for the log."""
    if row["status"] != "ok":
        return f"{row['status']}: {row.get('error', '')}"
    return f"ok (test accuracy {row['test_accuracy']:.3f}, p50 {row['latency_p50_ms']:.2f} ms)"
