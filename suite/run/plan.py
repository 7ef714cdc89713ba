"""The one planner: what a run will do, decided from the results folder's earlier rows alone.

``make_plan`` reads the folder once, refuses rows measured on another machine (unless ``--force``), checks the
input every case needs (``runner.preflight``), skips the jobs whose key already has an ``ok`` row, orders the
rest cheapest first (``order``) and fits them to ``--budget`` by the one estimator (``estimate.Estimates``, with
the FLOPs prior of ``cost``). ``suite run`` executes this plan (``schedule``); ``suite run --dry-run`` renders it
(``dryrun``), so both apply the same resume, cut and formats rules.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import pandas as pd

from suite import storage
from suite.case import Case
from suite.data.datasets import Datasets
from suite.environment import before_identity, differing_fields, older_rows_advice
from suite.errors import SuiteError
from suite.progress import duration
from suite.regimes import REGIMES
from suite.run import estimate, order
from suite.run.cost import FlopPrior, make_work
from suite.run.jobs import Job, done_keys, jobs_of
from suite.run.runner import preflight
from suite.run.settings import RunSettings

log = logging.getLogger(__name__)

Probe = Callable[[Job], dict | None]  # an executor's probe: timings of a few steps of a job's model, or None


@dataclass(kw_only=True)
class Plan:
    """What a run will do: the jobs to run in order, and what it already knows about the others."""

    settings: RunSettings
    jobs: list[Job]  # to hand to the executor, in this order
    estimates: estimate.Estimates  # seconds per job: earlier rows, probes, this run's jobs, else FLOPs
    prior: FlopPrior  # each case's side, weights and split sizes, and its FLOPs estimate
    done: list[Job] = field(default_factory=list)  # jobs whose key already has an ok row in the folder
    unusable: list[tuple[Job, str]] = field(default_factory=list)  # dataset can't be loaded: failed rows at once
    left_out: list[tuple[Job, float | None]] = field(default_factory=list)  # over --budget, with their estimates
    formats: pd.DataFrame = field(default_factory=pd.DataFrame)  # the folder's current formats.csv rows


@dataclass(frozen=True, kw_only=True)
class Machine:
    """Where the jobs run: the environment their rows will name (its fingerprint guards the folder), and the
    device ``settings.device`` resolves to there."""

    environment: dict[str, str]
    device: str


def refuse_other_machines(results_dir, frame: pd.DataFrame, here: dict) -> None:
    """``SuiteError`` if ``frame`` (the results of ``results_dir``) holds ok rows measured under another machine
    fingerprint than ``here`` (``suite.environment.environment()`` of the machines that run the jobs)."""
    ok = frame[frame["status"] == "ok"] if len(frame) else frame
    others = ok[ok["fingerprint"] != here["fingerprint"]] if len(ok) else ok
    if len(others) and before_identity(others) == len(others):
        raise SuiteError(f"{results_dir} holds rows of another machine fingerprint: {older_rows_advice(len(others))}")
    if len(others):
        differing = differing_fields(pd.concat([others, pd.DataFrame([here])], ignore_index=True))
        raise SuiteError(
            f"{results_dir} holds {len(others)} row(s) measured under another machine fingerprint "
            f"(differing: {', '.join(differing)}); choose a new --results folder, "
            "or pass --force to add rows that are not comparable"
        )


def read_folder(settings: RunSettings, machine: Machine) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The folder's results and current formats rows (empty for a new folder); refuses another machine's rows
    unless ``--force``."""
    folder = settings.results_dir
    if not storage.results_path(folder).is_file():
        return pd.DataFrame(), pd.DataFrame()
    earlier = storage.read_results(folder)
    every_format_row = storage.read_formats(folder, every_attempt=True)
    if not settings.force:
        refuse_other_machines(folder, earlier, machine.environment)
        refuse_other_machines(folder, every_format_row, machine.environment)
    return earlier, storage.current_model_rows(every_format_row)


def make_plan(cases: list[Case], settings: RunSettings, machine: Machine, *, probe: Probe | None = None) -> Plan:
    """The plan of ``cases`` x ``settings.seeds`` on ``machine``: done jobs set apart, the rest cheapest first or
    fitted to ``--budget`` (seed 0 of every case before any seed 1 either way). ``probe`` times jobs that nothing
    measured yet, for ``--budget``; a dry run passes none, and notes a dataset no case can read instead of
    refusing it."""
    earlier, formats = read_folder(settings, machine)
    datasets = Datasets(settings.data_dir)
    unusable = preflight(cases, settings.data_dir, datasets, every_dataset_unusable_fails=probe is not None)
    work = make_work(datasets, settings.seeds[0] if settings.seeds else 0)
    prior = FlopPrior(earlier, settings, machine.device, datasets)
    estimates = estimate.Estimates(earlier, work, prior, timed=lambda job: settings.timed(job.seed))
    done = set() if settings.force else done_keys(earlier)
    jobs = jobs_of(cases, settings.seeds, machine.environment)
    pending = [job for job in jobs if (job.key, job.seed) not in done]
    runnable = [job for job in pending if job.case.dataset not in unusable]
    if settings.budget_s is not None and probe is not None:
        probe_unknown(runnable, estimates, settings, probe)
    name = settings.profile.name

    def measured_seconds(job: Job) -> float | None:  # measured seconds win; else work, on their scale (order)
        measured = estimates.measured(job, name)
        return None if measured is None else measured[0]

    ordered = order.cheapest_first(runnable, measured_seconds, estimates.gflop)
    plan = Plan(settings=settings, jobs=ordered, estimates=estimates, prior=prior, formats=formats)
    plan.done = [job for job in jobs if (job.key, job.seed) in done]
    plan.unusable = [(job, unusable[job.case.dataset]) for job in pending if job.case.dataset in unusable]
    if settings.budget_s is not None:
        plan.jobs, plan.left_out = estimate.fit_budget(plan.jobs, lambda job: estimates(job, name), settings.budget_s)
    prior.charge_sources(plan.jobs)
    return plan


def probe_unknown(jobs: list[Job], estimates: estimate.Estimates, settings: RunSettings, probe: Probe) -> None:
    """Probes one job of each model shape that nothing measured yet, so ``--budget`` can place it."""
    probes: dict[tuple, dict | None] = {}
    for job in jobs:
        if estimates.measured(job, settings.profile.name) is not None:
            continue
        # A pretrained case may run at its weights' side, a scratch one of the same architecture at the dataset's.
        regime = REGIMES[job.case.regime]
        shape = (job.case.arch, job.case.dataset, job.case.image_size, job.case.batch_size, regime.pretrained)
        if shape not in probes:
            log.info("probing %s for --budget ...", job.case.id)
            probes[shape] = probe(job)
        if probes[shape] is not None:
            seconds = estimate.probe_estimate(job, probes[shape], settings.profile, regime.head_first)
            estimates.probed[job.key] = seconds


def undeployed(plan: Plan) -> list[str]:
    """``"case seed N: fmt, fmt (skipped)"`` for each finished job without an ok row of a format the run asks
    for, with the status of its last attempt if any: a rerun skips the job, so those formats are not made (only
    ``--force`` retrains and deploys it)."""
    tried = plan.formats
    if tried.empty:
        tried = pd.DataFrame(columns=["case_key", "seed", "format", "status"])
    tried = tried.assign(seed=pd.to_numeric(tried["seed"], errors="coerce")).dropna(subset=["seed"])
    columns = tried[["case_key", "seed", "format", "status"]].itertuples(index=False)
    last = {(key, int(seed), fmt): status for key, seed, fmt, status in columns}  # later attempts win
    lacking = []
    for job in plan.done:
        statuses = [(f, last.get((job.key, job.seed, f), "")) for f in plan.settings.formats_for(job.case)]
        missing = [f"{f} ({status})" if status else f for f, status in statuses if status != "ok"]
        if missing:
            lacking.append(f"{job.case.id} seed {job.seed}: {', '.join(missing)}")
    return lacking


def log_plan(plan: Plan) -> None:
    """Says what the plan skips, can't run, leaves out, and which finished jobs lack formats it asks for."""
    settings, total = plan.settings, len(plan.done) + len(plan.jobs) + len(plan.unusable) + len(plan.left_out)
    if plan.done:
        log.info(
            "%d of %d job(s) already done in %s (same case, suite version and machine); --force redoes them",
            *(len(plan.done), total, settings.results_dir),
        )
    for dataset, why in dict((job.case.dataset, why) for job, why in plan.unusable).items():
        log.warning("%s can't be used (%s); its cases become failed rows", dataset, why)
    if settings.budget_s is not None:
        planned = sum(plan.estimates(job, settings.profile.name) or 0.0 for job in plan.jobs)
        log.info(
            "--budget %s: %d job(s) planned, about %s", duration(settings.budget_s), len(plan.jobs), duration(planned)
        )
        for job, seconds in plan.left_out:
            log.info("  will not fit: %s (about %s)", job.label, duration(seconds))
    lacking = undeployed(plan)
    if lacking:
        log.warning(
            "%d finished job(s) lack formats this run asks for, and a rerun skips them (--force retrains and "
            "deploys them, or use a new --results folder): %s",
            len(lacking),
            "; ".join(lacking[:5]) + ("; ..." if len(lacking) > 5 else ""),
        )
