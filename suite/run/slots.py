"""``suite run --jobs N``: up to N jobs at once on this machine, each in its worker with its share of the cores.

A job of a small network takes one of the N slots and ``cores / N`` threads; any other job waits for every slot
and runs alone with every thread (``suite.run.parallel.slots``). Jobs start in the plan's order (cheapest first,
seed 0 of every case before any seed 1); a job that needs more slots than are free holds back the ones after it
until they free, so the order stays the plan's. Rows come back as jobs finish and the scheduler appends them, one
writer as with one job at a time; the timing lock (``suite.run.parallel.holding``) keeps every measurement alone.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager

from suite.progress import View, duration
from suite.run import parallel
from suite.run.estimate import once_seconds
from suite.run.executors import Executor
from suite.run.jobs import Job, outcome
from suite.run.plan import Plan

log = logging.getLogger(__name__)


def params_of(arch: str) -> int | None:
    """``arch``'s parameters with a 10-class head, where they are known without building it; else None."""
    from suite.measure import arch_facts

    known = arch_facts.known(arch)  # this machine's count, else the figure shipped with the suite
    value = known[0].get("params_10_class") if known else None
    return int(value) if value is not None and value == value else None


def in_slots(plan: Plan, executor: Executor) -> tuple[Iterator[tuple[Job, dict]], Executor, View, Callable]:
    """What ``schedule._append_each`` drives: ``(job, row)`` pairs as jobs finish, the executor, the progress
    view and the line each finished job gets."""
    run = Slots(plan, executor)
    return run.results(), executor, run.view, run.finished


class Slots:
    """The jobs of one plan, started as slots free, and what the progress line knows of them."""

    def __init__(self, plan: Plan, executor: Executor):
        self.executor, self.jobs = executor, plan.settings.jobs
        self.profile, self.budget_s = plan.settings.profile.name, plan.settings.budget_s
        self.first_seed = plan.settings.seeds[0] if plan.settings.seeds else 0
        self.queue, self.estimates = list(plan.jobs), plan.estimates
        self.taken = {job.key: parallel.slots(job.case, params_of(job.case.arch), self.jobs) for job in self.queue}
        self.running: dict[Future, tuple[Job, float]] = {}
        self.started = time.perf_counter()
        self.view = View(total=len(self.queue), remaining_s=self.left)
        self.view.line(f"up to {self.jobs} jobs at once; small networks side by side, one thread each, the rest alone")

    def share(self, job: Job) -> float:
        """The part of the machine ``job`` holds while it runs."""
        return self.taken[job.key] / self.jobs

    def left(self, _: float = 0.0) -> float | None:
        """Wall seconds left, by the estimates, for the jobs running and those queued."""
        now = time.perf_counter()
        running = [(job, now - started) for job, started in self.running.values()]
        return self.estimates.remaining(self.queue, running, self.profile, self.share)

    def waits(self, job: Job) -> bool:
        """A later seed of a case with a rate grid waits for its first seed's job, whose grid chooses its rate
        (``suite.run.rate_grid``)."""
        if job.case.lr_grid <= 1 or job.seed == self.first_seed:
            return False
        return any(j.case.id == job.case.id and j.seed == self.first_seed for j, _ in self.running.values())

    def admit(self, free: int) -> Job | None:
        """The next job if enough slots are free for it (a job over ``--budget`` is dropped, as one at a time)."""
        while self.queue and self.taken[self.queue[0].key] <= free and not self.waits(self.queue[0]):
            job = self.queue.pop(0)
            guess = self.estimates(job, self.profile) or 0.0
            if (
                self.budget_s is not None
                and time.perf_counter() - self.started + guess * self.share(job) > self.budget_s
            ):
                self.view.total -= 1
                self.view.line(f"{job.label}: not started, it would overrun --budget {duration(self.budget_s)}")
                continue
            return job
        return None

    def results(self) -> Iterator[tuple[Job, dict]]:
        """Starts jobs while slots are free; yields each ``(job, row)`` as its job ends."""
        free = self.jobs
        with ThreadPoolExecutor(max_workers=self.jobs, thread_name_prefix="job") as pool, _stopping(self.executor):
            while self.queue or self.running:
                while (job := self.admit(free)) is not None:
                    free -= self.taken[job.key]
                    self.start(pool, job)
                if not self.running:
                    break
                done, _ = wait(self.running, return_when=FIRST_COMPLETED)
                for future in done:
                    job, _ = self.running.pop(future)
                    free += self.taken[job.key]
                    yield job, future.result()
                    self.name_running()

    def start(self, pool: ThreadPoolExecutor, job: Job) -> None:
        """Hands ``job`` to the executor on a pool thread, with its share of the threads."""
        threaded = dataclasses.replace(job, threads=parallel.threads(self.taken[job.key], self.jobs))
        self.view.start_job(job.label)
        self.running[pool.submit(self.executor.run, threaded, _labelled(self.view, job.label))] = (
            job,
            time.perf_counter(),
        )
        self.name_running()

    def name_running(self) -> None:
        self.view.current = " + ".join(job.label for job, _ in self.running.values())

    def finished(self, job: Job, row: dict) -> str:
        """The log line of a finished job; an ok one teaches the estimates its seconds."""
        seconds = _seconds(row)
        if row.get("status") == "ok" and seconds is not None:
            since = time.time() - seconds  # this run of the job, not an earlier one's holds
            timing_s = parallel.held_seconds(self.executor.settings.results_dir, job.label, "time", since)
            self.estimates.learn(job, seconds, once_seconds(row), timing_s)
        self.view.current = job.label
        return f"{outcome(row)} in {duration(seconds)}"


@contextmanager
def _stopping(executor: Executor) -> Iterator[None]:
    """On Ctrl-C or any error of the scheduler, ends the jobs in flight (``Executor.close`` kills their workers),
    so the thread pool can close instead of waiting for them."""
    try:
        yield
    except BaseException:
        executor.close()
        raise


def _labelled(view: View, label: str) -> Callable[[dict], None]:
    """A job's events, named by the job: two run at once."""
    return lambda event: view.event({**event, "message": f"[{label}] {event.get('message', '')}".rstrip()})


def _seconds(row: dict) -> float | None:
    """The job's own wall seconds (its worker's ``case_seconds``), which is what its estimate predicts."""
    value = row.get("case_seconds")
    return float(value) if value is not None and value == value else None
