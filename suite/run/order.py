"""The order a run takes its jobs in: the cheapest first, so that rows (and the report's charts) come early.

A job's cost is what is knowable before training. Measured seconds win: an earlier ``ok`` row of the same
case in the folder (``suite.run.estimate.Estimates``). Otherwise it is estimated as work, forward-pass GFLOPs
(``suite.measure.arch_facts``' cached or shipped count, scaled from its side to the case's by area) x images x the
passes the regime makes: a trainable layer costs about 3 forward passes (forward, and the backward's two
products), a frozen one 1, evaluation 1. So ``frozen`` comes before ``finetune`` and ``scratch`` of the same
network. Work becomes seconds at the rate of jobs that have both (median seconds per GFLOP), else at
``NOMINAL_GFLOPS_PER_S``. Searched regimes (``tuned``) go last whatever they cost; every seed 0 comes before
any seed 1, as ``--budget`` plans them. Jobs with neither figure (a network not yet counted on this machine)
come after those with one, their networks in the given order, each network's regimes by ``passes`` (frozen
first). Ties keep the given order, so the order is a pure, deterministic function of the jobs and the figures.

Source pretraining needs no ordering: the first case to need a source's weights pretrains and caches them,
whichever it is, and ``frozen`` (cheapest) is usually that case.
"""

from __future__ import annotations

from collections.abc import Callable
from statistics import median

from suite.case import Case, grid_rungs
from suite.regimes import REGIMES
from suite.run.jobs import Job

TRAINED_PASSES = 3.0  # forward-pass equivalents per image through a trainable layer: forward + backward (2)
FROZEN_PASSES = 1.0  # through a frozen layer (and in evaluation): forward only
NOMINAL_GFLOPS_PER_S = 50.0  # GFLOP/s that sets measured and estimated jobs on one scale when no job has both


def passes(case: Case) -> float:
    """Forward-pass equivalents per training image over the whole case: every phase's epochs (``suite.train``)."""
    regime = REGIMES[case.regime]
    if not regime.pretrained:
        return TRAINED_PASSES * case.epochs
    head = FROZEN_PASSES * case.head_epochs if regime.head_first else 0.0
    trained_share = 1.0 - regime.freeze_fraction
    last = FROZEN_PASSES + (TRAINED_PASSES - FROZEN_PASSES) * trained_share
    return head + last * case.epochs


def work_gflop(case: Case, gflops_per_image: float, train_images: int, eval_images: int) -> float:
    """GFLOPs a case computes: its learning-rate grid's rungs (``suite.case.grid_rungs``), then training
    (``passes``), validation after each epoch, then validation and test."""
    regime = REGIMES[case.regime]
    runs = (*grid_rungs(case), case)
    epochs = sum(run.epochs + (run.head_epochs if regime.head_first else 0) for run in runs)
    evaluated = eval_images * (epochs + 2) * FROZEN_PASSES
    return gflops_per_image * (train_images * sum(passes(run) for run in runs) + evaluated)


def cheapest_first(
    jobs: list[Job], seconds: Callable[[Job], float | None], work: Callable[[Job], float | None]
) -> list[Job]:
    """``jobs`` by seed, searched last, then estimated seconds (``seconds`` wins over ``work`` x the rate)."""
    known = [seconds(job) for job in jobs]
    estimated = [work(job) for job in jobs]
    rates = [s / w for s, w in zip(known, estimated) if s is not None and w]
    per_gflop = median(rates) if rates else 1.0 / NOMINAL_GFLOPS_PER_S
    costs = [s if s is not None else (None if w is None else w * per_gflop) for s, w in zip(known, estimated)]

    arch_rank: dict[str, int] = {}
    for job in jobs:
        arch_rank.setdefault(job.case.arch, len(arch_rank))

    def key(index: int) -> tuple:
        job, cost = jobs[index], costs[index]
        first = (job.seed, REGIMES[job.case.regime].searched, cost is None)
        if cost is None:
            return (*first, arch_rank[job.case.arch], passes(job.case), index)
        return (*first, cost, 0.0, index)

    return [jobs[index] for index in sorted(range(len(jobs)), key=key)]
