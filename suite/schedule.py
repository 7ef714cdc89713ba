"""A night's run: which jobs, in what order, under the folder's lock, each row appended once.

``run_cases`` locks the results folder (a second run on it is refused),
repairs a half-written last row and chooses an executor; ``plan_jobs`` then
decides, from the folder's earlier rows alone, what this run will do: it
refuses a folder measured on another machine, skips the jobs whose key
already has an ``ok`` row and fits the rest to ``--budget``; ``execute``
hands the plan to the executor (``suite.executors``) and appends each row as
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
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from suite import budget, order, storage
from suite.case import Case
from suite.errors import SuiteError
from suite.executors import Executor, Job, Settings, make_executor
from suite.profiles import Profile
from suite.progress import View, duration

AfterRow = Callable[[], Path | None]  # called after each row is appended; the path of a page it rebuilt, or None

log = logging.getLogger(__name__)


@dataclass
class Plan:
    """What a run will do: the jobs to run in order, and what it already knows about the others."""

    jobs: list[Job]  # to hand to the executor, in this order
    estimates: budget.Estimates  # seconds per job: earlier rows, probes, and (as it runs) this run's jobs
    unusable: list[tuple[Job, str]] = field(default_factory=list)  # dataset can't be loaded: failed rows at once
    done: int = 0  # jobs whose key already has an ok row in the folder
    left_out: list[tuple[Job, float | None]] = field(default_factory=list)  # over --budget, with their estimates


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


def plan_jobs(
    cases: list[Case],
    seeds: range,
    env: dict[str, str],
    estimates: budget.Estimates,
    *,
    done: set[tuple[str, int]] = frozenset(),
    unusable: dict[str, str] | None = None,
    budget_s: float | None = None,
    profile: str = "",
    work: Callable[[Job], float | None] | None = None,
) -> Plan:
    """The jobs of ``cases`` x ``seeds`` less those ``done``, those whose dataset is ``unusable`` set apart,
    the rest cheapest first (``suite.order``: by ``estimates``, else by ``work``, GFLOPs) or fitted to ``budget_s``
    by ``estimates`` (seed 0 of every case before any seed 1 either way)."""
    from suite.runner import case_key

    unusable = unusable or {}
    jobs = [Job(case, seed, case_key(case, env)) for seed in seeds for case in cases]
    pending = [job for job in jobs if (job.key, job.seed) not in done]
    runnable = [job for job in pending if job.case.dataset not in unusable]
    ordered = order.cheapest_first(runnable, lambda job: estimates(job, profile), work or (lambda job: None))
    plan = Plan(ordered, estimates, done=len(jobs) - len(pending))
    plan.unusable = [(job, unusable[job.case.dataset]) for job in pending if job.case.dataset in unusable]
    if budget_s is not None:
        plan.jobs, plan.left_out = budget.plan(plan.jobs, lambda job: estimates(job, profile), budget_s)
    return plan


def undeployed(
    cases: list[Case], seeds: range, env: dict[str, str], done: set[tuple[str, int]], formats: pd.DataFrame, wanted
) -> list[str]:
    """``"case seed N: fmt, fmt (skipped)"`` for each finished job (in ``done``) without an ok row of a format
    ``wanted(case)`` asks for, with the status of its last attempt if any: a rerun skips the job, so those formats
    are not made (only ``--force`` retrains and deploys it)."""
    from suite.runner import case_key

    tried = formats.assign(seed=pd.to_numeric(formats["seed"], errors="coerce")).dropna(subset=["seed"])
    columns = tried[["case_key", "seed", "format", "status"]].itertuples(index=False)
    last = {(key, int(seed), fmt): status for key, seed, fmt, status in columns}  # later attempts win
    lacking = []
    for seed in seeds:
        for case in cases:
            key = case_key(case, env)
            if (key, seed) not in done:
                continue
            statuses = [(f, last.get((key, seed, f), "")) for f in wanted(case)]
            missing = [f"{f} ({status})" if status else f for f, status in statuses if status != "ok"]
            if missing:
                lacking.append(f"{case.id} seed {seed}: {', '.join(missing)}")
    return lacking


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
    formats: tuple[str, ...] | None = None,
    after_row: AfterRow | None = None,
) -> list[dict]:
    """Runs every case for seeds ``first_seed..first_seed+seeds-1``; returns the rows written by this call.

    ``timeout_s`` defaults to the profile's ``case_timeout_s``; ``address`` is
    the Ray cluster of ``executor="ray"`` (None: a local Ray instance); ``formats`` the deployed formats
    (``suite.deploy``; None: the profile's); ``after_row`` is called after each row is appended.
    """
    results_dir = Path(results_dir)
    if results_dir.exists() and not results_dir.is_dir():
        raise SuiteError(f"--results {results_dir} is a file, not a folder")
    try:
        results_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise storage.unwritable(results_dir, error.strerror) from None
    with storage.locked(results_dir):
        storage.prepare(results_dir)
        storage.forget_failed_sources(results_dir)  # a source that failed in an earlier run is tried again
        timeout_s = timeout_s or profile.case_timeout_s
        settings = Settings(profile.name, results_dir, device, data_dir, timeout_s, address, formats)
        with closing(make_executor(executor, settings)) as chosen:
            plan = _plan(cases, profile, results_dir, chosen, range(first_seed, first_seed + seeds), force, budget_s)
            return execute(plan, chosen, profile, budget_s, after_row)


def _plan(
    cases: list[Case],
    profile: Profile,
    results_dir: Path,
    executor: Executor,
    seeds: range,
    force: bool,
    budget_s: float | None,
) -> Plan:
    """Reads the folder once, checks the input every case needs, probes for ``--budget``, and plans; logs it."""
    from suite.runner import Datasets, preflight

    earlier = storage.read_results(results_dir)
    if not force:
        refuse_other_machines(results_dir, earlier, executor.environment)
        every_format_row = storage.read_formats(results_dir, every_attempt=True)
        refuse_other_machines(results_dir, every_format_row, executor.environment)
    dataset = Datasets(executor.settings.data_dir)
    unusable = preflight(cases, executor.settings.data_dir, dataset)
    work = _work(dataset)
    estimates = budget.Estimates(earlier, work)
    if budget_s is not None:
        _probe_unknown([c for c in cases if c.dataset not in unusable], seeds, executor, estimates, profile)
    done = set() if force else done_keys(earlier)
    plan = plan_jobs(
        cases,
        seeds,
        executor.environment,
        estimates,
        done=done,
        unusable=unusable,
        budget_s=budget_s,
        profile=profile.name,
        work=work,
    )
    if not force:
        current = storage.current_model_rows(every_format_row)
        _warn_undeployed(cases, seeds, current, executor, profile, done)
    if plan.done:
        log.info(
            "%d of %d job(s) already done in %s (same case, suite version and machine); --force redoes them",
            plan.done,
            plan.done + len(plan.jobs) + len(plan.unusable) + len(plan.left_out),
            results_dir,
        )
    for dataset, why in unusable.items():
        log.warning("%s can't be used (%s); its cases become failed rows", dataset, why)
    if budget_s is not None:
        planned = sum(estimates(job, profile.name) or 0.0 for job in plan.jobs)
        log.info("--budget %s: %d job(s) planned, about %s", duration(budget_s), len(plan.jobs), duration(planned))
        for job, seconds in plan.left_out:
            log.info("  will not fit: %s (about %s)", job.label, duration(seconds))
    return plan


def _warn_undeployed(
    cases: list[Case], seeds: range, formats: pd.DataFrame, executor: Executor, profile: Profile, done: set
) -> None:
    """Says which finished jobs lack formats this run asks for (``formats``: the folder's current rows): skipped
    as done, they would get none silently."""

    def wanted(case: Case) -> tuple[str, ...]:
        return profile.formats_for(case.id, executor.settings.formats)

    lacking = undeployed(cases, seeds, executor.environment, done, formats, wanted)
    if lacking:
        log.warning(
            "%d finished job(s) lack formats this run asks for, and a rerun skips them (--force retrains and "
            "deploys them, or use a new --results folder): %s",
            len(lacking),
            "; ".join(lacking[:5]) + ("; ..." if len(lacking) > 5 else ""),
        )


def _work(dataset) -> Callable[[Job], float | None]:
    """A job's estimated GFLOPs (``suite.order.work_gflop``) from its architecture's cached count
    (``suite.measure.arch_facts``) and ``dataset``'s split sizes; None if unknown. Only the suite's own small
    networks are counted here when not cached (a second each); a Keras application is built by `suite archs`."""
    import math

    from suite.data.pipeline import input_side
    from suite.measure import arch_facts
    from suite.models import ARCHITECTURES

    def work(job: Job) -> float | None:
        case, counts = job.case, arch_facts.cached(job.case.arch)
        if counts is None and ARCHITECTURES[case.arch].source == "suite":
            try:
                counts = arch_facts.counted(case.arch)
            except Exception as error:  # an order without this estimate beats no run at all
                log.warning("%s's GFLOPs not counted for the run order: %s", case.arch, error)
        if not counts or not math.isfinite(counts["gflops"]):
            return None
        spec, raw = ARCHITECTURES[case.arch], dataset(case.dataset, case.image_size)  # loaded by preflight
        counted_at = arch_facts.flops_side(spec)
        side = counted_at if spec.hub else input_side(case.arch, raw.side, case.image_size)
        train = case.whole_train_images(raw.sizes["train"])
        held_out = sum(min(case.eval_limit or raw.sizes[split], raw.sizes[split]) for split in ("val", "test"))
        return order.work_gflop(case, counts["gflops"] * (side / counted_at) ** 2, train, held_out)

    return work


def _probe_unknown(
    cases: list[Case], seeds: range, executor: Executor, estimates: budget.Estimates, profile: Profile
) -> None:
    """Probes one job of each model shape that has no estimate yet, so ``--budget`` can place it."""
    from suite.regimes import REGIMES
    from suite.runner import case_key

    probes: dict[tuple, dict | None] = {}
    for job in (Job(case, seed, case_key(case, executor.environment)) for seed in seeds for case in cases):
        if estimates(job, profile.name) is not None:
            continue
        # A pretrained case may run at its weights' side, a scratch one of the same architecture at the dataset's.
        pretrained = REGIMES[job.case.regime].pretrained
        shape = (job.case.arch, job.case.dataset, job.case.image_size, job.case.batch_size, pretrained)
        if shape not in probes:
            log.info("probing %s for --budget ...", job.case.id)
            probes[shape] = executor.probe(job)
        if probes[shape] is not None:
            head_first = REGIMES[job.case.regime].head_first
            estimates.probed[job.key] = budget.probe_estimate(job, probes[shape], profile, head_first)


def execute(
    plan: Plan,
    executor: Executor,
    profile: Profile,
    budget_s: float | None = None,
    after_row: AfterRow | None = None,
) -> list[dict]:
    """Runs ``plan`` on ``executor``, appending each row as it comes; returns the rows, unusable jobs' first."""
    results_dir = executor.settings.results_dir
    rows = [_unusable_row(job, why, profile, executor.settings.device, results_dir) for job, why in plan.unusable]
    if executor.side_by_side:
        return rows + _side_by_side(plan.jobs, executor, results_dir, after_row)
    return rows + _one_by_one(plan.jobs, executor, plan.estimates, profile.name, budget_s, after_row)


def _unusable_row(job: Job, why: str, profile: Profile, device: str, results_dir: Path) -> dict:
    """The ``failed`` row of a job whose dataset can't be loaded, appended without starting a worker."""
    from suite.runner import unrun_row

    row = unrun_row(job.case, job.seed, profile.name, device, f"DatasetUnavailable: {why}")
    storage.append_row(results_dir, row)
    return row


def _one_by_one(
    jobs: list[Job],
    executor: Executor,
    estimates: budget.Estimates,
    profile: str,
    budget_s: float | None,
    after_row: AfterRow | None = None,
) -> list[dict]:
    """Runs the jobs in turn; a job that would overrun ``budget_s`` at its turn is not started."""
    queue = list(jobs)
    current: dict = {"job": None, "started": 0.0}
    started = time.perf_counter()
    view = View(total=len(queue), remaining_s=lambda s: estimates.remaining(queue, current["job"], s, profile))

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
            estimates.learn(job, seconds)
        current["job"] = None
        return f"{_outcome(row)} in {duration(seconds)}"

    return _append_each(executor.run_many(admitted(), view.event), executor, view, finished, after_row)


def _side_by_side(jobs: list[Job], executor: Executor, results_dir: Path, after_row: AfterRow | None) -> list[dict]:
    """Hands every job to the executor at once; ``--budget`` has already chosen them (``plan_jobs``)."""
    view = View(total=len(jobs), remaining_s=lambda current_s: None)
    view.line(f"{len(jobs)} job(s) handed to the executor side by side")
    started = time.perf_counter()

    def finished(job: Job, row: dict) -> str:
        view.current = job.label
        return f"{_outcome(row)} after {duration(time.perf_counter() - started)} of the run"

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


def _outcome(row: dict) -> str:
    """``ok (test accuracy ..., p50 ...)`` or ``failed: error``, for the log."""
    if row["status"] != "ok":
        return f"{row['status']}: {row.get('error', '')}"
    return f"ok (test accuracy {row['test_accuracy']:.3f}, p50 {row['latency_p50_ms']:.2f} ms)"
