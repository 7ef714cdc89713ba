"""Where a case runs: in a worker process of its own (``local``, the default) or in this one (``inline``).

An executor takes a ``Job`` (a resolved case and a seed) and returns its row.
It never writes ``results.csv``: the scheduler (``suite.schedule``), which
holds the folder's lock, appends every row, so rows can't interleave or repeat.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from suite.registry import Case


@dataclass(frozen=True)
class Job:
    """One case for one seed, with the key a rerun uses to recognise it as done."""

    case: Case
    seed: int
    key: str  # suite.runner.case_key: case fields, suite version, machine fingerprint

    @property
    def label(self) -> str:
        return f"{self.case.id} seed {self.seed}"


@dataclass(frozen=True)
class Settings:
    """What every job of one run shares."""

    profile: str  # profile name; the case already carries its budgets
    results_dir: Path
    device: str  # cpu or gpu, already resolved
    data_dir: str | None = None
    timeout_s: float | None = None  # per job; None waits for ever (inline ignores it)


EXECUTORS = ("local", "inline")


def make_executor(name: str, settings: Settings):
    """The executor called ``name``: ``local`` (a process per job) or ``inline`` (this process, for debugging)."""
    if name == "local":
        from suite.executors.local import LocalExecutor

        return LocalExecutor(settings)
    if name == "inline":
        from suite.executors.inline import InlineExecutor

        return InlineExecutor(settings)
    raise ValueError(f"unknown executor {name!r}; valid: {', '.join(EXECUTORS)}")
