"""Where a case runs: in a worker process of its own (``local``, the default), in this one (``inline``), or as a
task on a Ray cluster (``ray``, the optional extra ``pip install -e ".[ray]"``).

An executor takes a ``Job`` (a resolved case and a seed) and returns its row:
``run(job, on_event)`` one at a time, or, for an executor that runs jobs
side by side (``ray``), ``run_many(jobs, on_event)`` yielding ``(job, row)``
as each finishes. It never writes ``results.csv``: the scheduler
(``suite.schedule``), which holds the folder's lock, appends every row, so
rows can't interleave or repeat.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from suite.errors import SuiteError
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
    address: str | None = None  # ray: the cluster's HOST:PORT or "auto"; None starts a local Ray instance


EXECUTORS = ("local", "inline", "ray")
RAY_MISSING = 'Ray is not installed; --executor ray needs the optional extra: pip install -e ".[ray]"'


def require(name: str) -> None:
    """``SuiteError`` now, before TensorFlow starts, if executor ``name`` can't be used here."""
    import importlib.util

    if name not in EXECUTORS:
        raise SuiteError(f"unknown executor {name!r}; valid: {', '.join(EXECUTORS)}")
    if name == "ray" and importlib.util.find_spec("ray") is None:
        raise SuiteError(RAY_MISSING)


def make_executor(name: str, settings: Settings):
    """The executor called ``name``: ``local`` (a process per job), ``inline`` (this process, for debugging) or
    ``ray`` (a Ray task per job, each in a worker process as ``local`` runs it)."""
    if name == "local":
        from suite.executors.local import LocalExecutor

        return LocalExecutor(settings)
    if name == "inline":
        from suite.executors.inline import InlineExecutor

        return InlineExecutor(settings)
    if name == "ray":
        require(name)
        from suite.executors.cluster import RayExecutor

        return RayExecutor(settings)
    raise ValueError(f"unknown executor {name!r}; valid: {', '.join(EXECUTORS)}")
