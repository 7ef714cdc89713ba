"""How long jobs take: estimates from earlier rows or a short probe, and a plan that fits a time budget.

``suite run --budget 8h`` orders the jobs and says, before starting, which
will not fit. An estimate comes first from earlier runs of the same case in
the folder (the rows' ``case_seconds``), then, for ``--budget`` only, from a
probe: a worker that times a few training steps and batch-1 calls of the
case's model and scales them by the case's epochs, steps and measurement
budget. Probe estimates are rough (measured within a factor of about 2 on this
machine's smoke cases); one run in a folder makes the next budget exact. The
progress line's ETA also learns from the run itself: jobs of the same
architecture finished ok, else the other finished jobs scaled by work.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable
from statistics import median
from typing import TYPE_CHECKING

import pandas as pd

from suite.profiles import Profile
from suite.run.jobs import Job

if TYPE_CHECKING:
    from suite.run.cost import Priced


class Estimates:
    """Seconds per job: from earlier rows of the folder, then from ``--budget``'s probes, then from this run's
    finished jobs of the same architecture.

    A job of an architecture this run has not finished yet is scaled from the jobs it has, by ``work``
    (``suite.run.order.work_gflop``): a line ``seconds = overhead + GFLOPs / rate`` fitted to them, so a run that
    starts with small networks does not promise the big ones at a small one's time.
    """

    def __init__(
        self,
        earlier: pd.DataFrame,
        work: Callable[[Job], float | None] | None = None,
        prior: Callable[[Job], Priced | None] | None = None,
        timed: Callable[[Job], bool] | None = None,
    ):
        self.by_key: dict[str, float] = {}
        self.by_case: dict[str, float] = {}
        if "case_seconds" in earlier and len(earlier):
            done = earlier.dropna(subset=["case_seconds"])
            done = done[done["status"] == "ok"]
            self.by_key = done.groupby("case_key")["case_seconds"].median().to_dict()
            self.by_case = done.groupby(["case_id", "profile"])["case_seconds"].median().to_dict()
        self.this_run: dict[str, list[float]] = defaultdict(list)
        self.probed: dict[str, float] = {}
        self._work, self._gflop = work or (lambda job: None), {}  # (key, seed) -> GFLOPs
        self.worked_by_arch: dict[str, list[tuple[float, float]]] = defaultdict(list)  # (GFLOPs, s) of finished jobs
        self.line: tuple[float, float] | None = None  # fit_line(worked), refitted as jobs finish
        self.line_fitted = False  # whether it is a fitted line, not the median rate of too few jobs
        self.prior = prior or (lambda job: None)  # seconds by FLOPs (suite.run.cost.FlopPrior), before anything ran
        self.timed = timed or (lambda job: True)  # whether a job times its model (suite.run.settings.RunSettings.timed)
        self.timing_by_arch: dict[str, list[float]] = defaultdict(list)  # seconds finished jobs held the timing lock

    def learn(self, job: Job, seconds: float, once_s: float = 0.0, timing_s: float = 0.0) -> None:
        """Records a job finished ok in this run: it informs the estimates of the same architecture, and by its
        work those of the others (a job that failed early would say nothing true of either).

        ``once_s``: what the job spent that no later job spends again (``once_seconds``: a source it pretrained,
        now cached). Left in, a cold quick run's first frozen jobs (49 and 77 s, 16 and 37 s warm, on Zen 5) made
        the ETA 1.6-2.4 times what was left until the last jobs.

        ``timing_s``: the seconds it held the timing lock (``suite.run.parallel.held_seconds``), learned apart, since
        only a case's first seed times (``timed``): with them in, a cold quick run priced every later seed at its
        first seed's timing, and the ETA said 1.3-2.1 times what was left until the 10th job (Zen 5)."""
        seconds = max(seconds - once_s - timing_s, 0.1 * seconds)
        if timing_s > 0:
            self.timing_by_arch[job.case.arch].append(timing_s)
        self.this_run[job.case.arch].append(seconds)
        gflop = self.gflop(job)
        if gflop:
            self.worked_by_arch[job.case.arch].append((gflop, seconds))
            self.line = fit_line(self.worked)
            self.line_fitted = self.line[0] > 0.0  # a line with an overhead, not fit_line's fallback median rate

    @property
    def worked(self) -> list[tuple[float, float]]:
        """(GFLOPs, seconds) of every job this run finished whose work is known."""
        return [pair for pairs in self.worked_by_arch.values() for pair in pairs]

    def __call__(self, job: Job, profile: str = "") -> float | None:
        """``job``'s seconds, by the first of ``explain``'s sources that has them; None if none has."""
        return self.explain(job, profile)[0]

    def explain(self, job: Job, profile: str = "") -> tuple[float | None, str, tuple[str, ...]]:
        """``(seconds, basis, extra)``: ``job``'s seconds and where they come from, in this order: earlier rows of
        the same key, or of the same case and ``profile``; a ``--budget`` probe; this run's finished jobs of the
        same architecture; a line fitted through all of them by work; its FLOPs (``prior``); else the median rate
        of this run's jobs by work.

        The prior comes before a rate taken from a few jobs of other networks: in a quick run on Zen 5 the prior
        said 11 minutes at the start, and the rate of the first two jobs (the plain CNN and MobileNetV2, whose
        seconds barely follow their FLOPs) then said 31-37 minutes of a run that took 9."""
        measured = self.measured(job, profile)
        if measured is not None:
            return measured
        scaled = self.scaled(job)
        if scaled is not None and self.line_fitted:
            return scaled, "this run's jobs, by work", ()
        priced = self.prior(job)
        if priced:
            return priced.seconds, priced.basis, priced.extra
        return (scaled, "this run's jobs, by work", ()) if scaled is not None else (None, "unknown", ())

    def measured(self, job: Job, profile: str = "") -> tuple[float, str, tuple[str, ...]] | None:
        """``job``'s seconds where something measured it (earlier rows, a probe, this run); else None."""
        if job.key in self.by_key:
            return self.by_key[job.key], "earlier run", ()
        if (job.case.id, profile) in self.by_case:
            return self.by_case[(job.case.id, profile)], "earlier run", ()
        if job.key in self.probed:
            return self.probed[job.key], "probe", ()
        if self.this_run.get(job.case.arch):
            # By work where it is known: a case's first seed trains the rate grid's rungs too (about twice the
            # training of its later seeds), and a frozen case a fraction of a scratch one.
            gflop, done = self.gflop(job), self.worked_by_arch.get(job.case.arch)
            if gflop and done:
                # Replayed on a quick run (tests/test_eta_replay.py), a line through the architecture's own jobs
                # kept every ETA within 28% once each network had finished a job; the median of the same work's
                # jobs first, then the line, ended 32-49% short in the last minute.
                overhead, rate = fit_line(done)
                return overhead + gflop / rate + self.timing(job), "this run, by work", ()
            return median(self.this_run[job.case.arch]) + self.timing(job), "this run", ()
        return None

    def timing(self, job: Job) -> float:
        """Seconds ``job`` will hold the timing lock, by this run's finished jobs of its architecture (else all of
        them); 0 for a job that times nothing."""
        if not self.timed(job):
            return 0.0
        own = self.timing_by_arch.get(job.case.arch)
        every = [s for seconds in self.timing_by_arch.values() for s in seconds]
        return median(own) if own else median(every) if every else 0.0

    def gflop(self, job: Job) -> float | None:
        """``job``'s work, counted once per case and seed (the progress line asks for every pending job at every
        refresh). By ``key`` alone, which names the case, not the seed, every seed got the first seed's work with
        its rate grid's rungs: a quick run's live ETA then said 1.3-1.9 times the time left."""
        if (job.key, job.seed) not in self._gflop:
            self._gflop[(job.key, job.seed)] = self._work(job)
        return self._gflop[(job.key, job.seed)]

    def scaled(self, job: Job) -> float | None:
        """``job``'s seconds from this run's finished jobs and its work; None without either."""
        gflop = self.gflop(job)
        if not gflop or self.line is None:
            return None
        overhead, rate = self.line
        return overhead + gflop / rate + self.timing(job)

    def remaining(
        self,
        pending: list[Job],
        running: list[tuple[Job, float]],
        profile: str,
        share: Callable[[Job], float] | None = None,
    ) -> float | None:
        """Wall seconds left for the ``running`` jobs (each with the seconds it has run) and every job in
        ``pending``; None if unknown.

        ``share`` is the part of the machine a job holds while it runs (``suite.run.parallel``: 1/N for one of N
        jobs side by side, 1 alone): a job of ``s`` seconds run beside N-1 others takes ``s / N`` of the wall
        clock left. A job that has overrun its estimate counts a tenth of its estimate more, not zero: it is still
        running, and "ETA 0 s" for minutes says nothing.
        """
        share = share or (lambda job: 1.0)
        finished = [s for seconds in self.this_run.values() for s in seconds]
        fallback = median(finished) if finished else None
        total = 0.0
        for job, run_s in [*running, *((job, None) for job in pending)]:
            guess = self(job, profile)
            guess = fallback if guess is None else guess
            if guess is None:
                return None
            left = guess if run_s is None else max(guess - run_s, 0.1 * guess)
            total += left * share(job)
        return total


def once_seconds(row: dict) -> float:
    """What a finished job's ``row`` spent that no later job will: pretraining a source that is cached now."""
    value = row.get("source_pretrain_seconds")
    return float(value) if isinstance(value, (int, float)) and value == value and value > 0 else 0.0


def fit_line(worked: list[tuple[float, float]]) -> tuple[float, float]:
    """``(overhead_s, gflop_per_s)`` of ``seconds = overhead + GFLOPs / rate`` over (GFLOPs, seconds) pairs.

    Least squares where it can be trusted: three jobs or more, whose work spans at least ``LINE_SPREAD`` times,
    and a line with a positive rate and an overhead between 0 and the shortest job. Otherwise no overhead and the
    median rate: that overestimates big jobs after small ones (their overhead counts as work) rather than
    promising them at a small one's time, as a flat line through a few similar jobs would.
    """
    gflops, seconds = (pd.Series(column, dtype=float) for column in zip(*worked))
    if len(gflops) >= 3 and gflops.max() >= LINE_SPREAD * gflops.min():
        slope = gflops.cov(seconds) / gflops.var()
        overhead = seconds.mean() - slope * gflops.mean()
        if slope > 0 and 0 <= overhead <= seconds.min():
            return overhead, 1.0 / slope
    return 0.0, float((gflops / seconds).median())


LINE_SPREAD = 2.0  # the least max/min work ratio of finished jobs for fit_line to draw a line through them


def probe_estimate(job: Job, probe: dict, profile: Profile, head_first: bool) -> float:
    """Seconds for ``job`` from a probe's timings (see ``suite.run.runner.Runner.probe``)."""
    case, m = job.case, profile.measure
    steps = math.ceil(probe["train_images"] / case.batch_size)
    eval_steps = math.ceil(probe["eval_images"] / case.batch_size)
    head = head_first and case.head_epochs > 0
    epochs = case.epochs + (case.head_epochs if head else 0)
    train = (2 if head else 1) * probe["trace_s"] + epochs * steps * probe["step_s"]
    evaluate = (epochs + 2) * eval_steps * probe["step_s"] / 3 + 2 * probe["trace_s"] / 2
    modes, one = len(m.modes), probe["infer_s"]
    latency = modes * (probe["infer_trace_s"] + m.warmup_runs * one)
    latency += modes * min(m.latency_max_s, max(m.latency_min_s, m.latency_runs * one))
    # Batching amortises per-call overhead; per image, batch b costs about 1/min(b, 4) of batch 1 on a CPU.
    runs = [m.throughput_runs * one * b / min(b, 4) for b in m.batches]
    blocks = [min(m.throughput_max_s, max(m.throughput_min_s, seconds)) for seconds in runs]
    throughput = modes * (len(m.batches) * probe["infer_trace_s"] / 2 + sum(blocks))
    return probe["startup_s"] + train + evaluate + latency + throughput


def fit_budget(
    jobs: list[Job], estimate: Callable[[Job], float | None], budget_s: float
) -> tuple[list[Job], list[tuple[Job, float | None]]]:
    """Orders ``jobs`` and splits them into those that fit ``budget_s`` and those left out, with estimates.

    Seed 0 of every case comes before any second seed; within a seed the
    shortest jobs go first, so a budget that is too small still yields the most
    finished cases. Jobs without an estimate go last and are left out.
    """
    ordered = sorted(jobs, key=lambda j: (j.seed, estimate(j) is None, estimate(j) or 0.0, j.case.id))
    fits, left_out, used = [], [], 0.0
    for job in ordered:
        seconds = estimate(job)
        if seconds is not None and used + seconds <= budget_s:
            fits.append(job)
            used += seconds
        else:
            left_out.append((job, seconds))
    return fits, left_out
