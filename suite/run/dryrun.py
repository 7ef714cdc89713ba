"""``suite run --dry-run``: what a run would do and about how long it would take, training and writing nothing.

For every case and seed: the input side and why (``suite.sides``), the weights it would start from
(``suite.transfer.resolve_weights``: the same answer the run gets, so ImageNet weights that can't be had here show
as ``source:glyphs`` at the dataset's side), epochs per phase (``Regime.phases``), batch size and training images;
the formats every job exports to; an estimate of each job's time and of the total.

The page renders the plan ``suite run`` would execute (``suite.run.plan.make_plan``: the same resume, cut and
formats rules) and each job's estimate from the run's one estimator (``suite.run.estimate.Estimates``, the one
the progress line's ETA uses), labelled by its source: ``earlier run`` (the median ``case_seconds`` of ok rows
of the same case in the results folder), else ``FLOPs`` (``suite.run.cost``: GFLOPs per image at the job's side
times the images each phase passes, at a training rate measured from the folder's rows or an assumed one, plus
evaluation, measurement, the formats, a search's trials and source pretraining not cached yet).

The run's own preflight checks (``suite.run.runner.preflight``: user architectures build, weights files fit, sides
are allowed) run on the cases whose dataset can be read, so bad input exits 2 here as it would there; an unprepared
tfds set is noted, not fatal. No other model is built (FLOPs are scaled from counts), nothing is written.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import tensorflow as tf

from suite.case import Case
from suite.environment import environment
from suite.profiles import Profile
from suite.progress import duration
from suite.regimes import REGIMES
from suite.run.cost import Rate, train_images_of
from suite.run.plan import Machine, Plan, make_plan
from suite.run.settings import RunSettings
from suite.sides import Side


@dataclass(kw_only=True)
class Line:
    """One case of the plan: the same for each of its seeds, but for which seeds are already done."""

    case: Case
    seeds: list[int]  # to run
    done: list[int]  # already ok in the results folder
    side: Side
    weights: str
    phases: str  # "head 5 + finetune 30"; a tuned case's search first
    train_images: int | None
    seconds: float | None  # one job
    basis: str  # what the estimate is from
    extra: list[str] = field(default_factory=list)  # what the estimate includes beyond training (source pretraining)
    formats: tuple[str, ...] = ()  # deployed formats the job exports to and measures


@dataclass(kw_only=True)
class DryRun:
    lines: list[Line]
    profile: Profile
    results_dir: Path
    device: str
    rate: Rate
    notes: list[str]  # datasets that can't be read here, jobs over --budget, and the like
    cpu: Rate | None = None  # the deployed formats' CPU runtimes, where training runs on a GPU

    @property
    def total_s(self) -> float | None:
        if any(line.seconds is None for line in self.lines if line.seeds):
            return None
        return sum(line.seconds * len(line.seeds) for line in self.lines if line.seeds)


def phases_text(case: Case) -> str:
    """Epochs per phase as the run would train them; a tuned case's search first."""
    regime = REGIMES[case.regime]
    text = " + ".join(f"{phase.name} {phase.epochs}" for phase in regime.phases(case))
    if regime.searched:
        head = f"{case.head_epochs} head + " if case.head_epochs else ""
        text = f"search {case.trials} x ({head}{case.trial_epochs}); {text}"
    return text + ("*" if case.early_stopping else "")


def plan(cases: list[Case], settings: RunSettings) -> DryRun:
    """The dry run of ``cases`` under ``settings``: the plan ``suite run`` would execute, read, never written."""
    device = resolve_device(settings.device)
    the_plan = make_plan(cases, settings, Machine(environment=environment(), device=device))
    lines = [_line(case, the_plan) for case in cases]
    notes = _unreadable_notes(cases, the_plan) + [
        f"will not fit --budget {duration(settings.budget_s)}: {job.label} (about {duration(seconds)})"
        for job, seconds in the_plan.left_out
    ]
    prior = the_plan.prior
    return DryRun(
        lines=lines,
        profile=settings.profile,
        results_dir=settings.results_dir,
        device=device,
        rate=prior.rate,
        notes=notes,
        cpu=prior.cpu,
    )


def _line(case: Case, the_plan: Plan) -> Line:
    """The case's line: the plan's jobs of it (to run, including those whose dataset can't be read; and done),
    its facts, and the estimate of its first job to run."""
    to_run = the_plan.jobs + [job for job, _ in the_plan.unusable]
    jobs = [job for job in to_run if job.case.id == case.id]
    facts = the_plan.prior.facts(case)
    seconds, basis, extra = (
        the_plan.estimates.explain(jobs[0], the_plan.settings.profile.name) if jobs else (None, "", ())
    )
    return Line(
        case=case,
        seeds=sorted(job.seed for job in jobs),
        done=sorted(job.seed for job in the_plan.done if job.case.id == case.id),
        side=facts.side,
        weights=facts.weights,
        phases=phases_text(case),
        train_images=train_images_of(case, facts.sizes) if facts.sizes else None,
        seconds=seconds,
        basis=basis,
        extra=list(extra),
        formats=the_plan.settings.formats_for(case),
    )


def _unreadable_notes(cases: list[Case], the_plan: Plan) -> list[str]:
    """A note per dataset that can't be read here, saying what the run would do."""
    unreadable = {job.case.dataset: why for job, why in the_plan.unusable}
    readable = [case for case in cases if case.dataset not in unreadable]
    what = "the run would stop before its first case" if not readable else "its jobs would fail"
    return [f"{name} can't be read here, so {what}: {why}" for name, why in sorted(unreadable.items())]


def resolve_device(device: str) -> str:
    """``cpu`` or ``gpu``: what ``--device`` would resolve to, without configuring TensorFlow."""
    if device in ("cpu", "gpu"):
        return device
    return "gpu" if tf.config.list_physical_devices("GPU") else "cpu"
