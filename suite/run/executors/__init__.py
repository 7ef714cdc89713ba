"""Where a case runs: in a worker process of its own (``local``, the default), in this one (``inline``), or as a
task on a Ray cluster (``ray``, the optional extra ``pip install -e ".[ray]"``).

Every executor follows the ``Executor`` protocol: it takes a ``Job`` (a
resolved case and a seed) and returns its row, ``run(job, on_event)`` one at
a time or ``run_many(jobs, on_event)`` yielding ``(job, row)`` as each
finishes; ``side_by_side`` says which of the two the scheduler should drive.
It never writes ``results.csv``: the scheduler (``suite.run.schedule``), which
holds the folder's lock, appends every row, so rows can't interleave or repeat.
"""

from __future__ import annotations

from suite.errors import SuiteError
from suite.run.executors.base import Executor, OneAtATime, OnEvent
from suite.run.jobs import Job
from suite.run.settings import RunSettings

__all__ = ["EXECUTORS", "Executor", "Job", "OnEvent", "OneAtATime", "make_executor", "require"]

EXECUTORS = ("local", "inline", "ray")
RAY_MISSING = 'Ray is not installed; --executor ray needs the optional extra: pip install -e ".[ray]"'


def require(name: str) -> None:
    """``SuiteError`` now, before TensorFlow starts, if executor ``name`` can't be used here."""
    import importlib.util

    if name not in EXECUTORS:
        raise SuiteError(f"unknown executor {name!r}; valid: {', '.join(EXECUTORS)}")
    if name == "ray" and importlib.util.find_spec("ray") is None:
        raise SuiteError(RAY_MISSING)


def make_executor(settings: RunSettings) -> Executor:
    """The executor ``settings.executor`` names: ``local`` (a process per job), ``inline`` (this process, for
    debugging) or ``ray`` (a Ray task per job, each in a worker process as ``local`` runs it)."""
    name = settings.executor
    if name == "local":
        from suite.run.executors.local import LocalExecutor

        return LocalExecutor(settings)
    if name == "inline":
        from suite.run.executors.inline import InlineExecutor

        return InlineExecutor(settings)
    if name == "ray":
        require(name)
        from suite.run.executors.cluster import RayExecutor

        return RayExecutor(settings)
    raise ValueError(f"unknown executor {name!r}; valid: {', '.join(EXECUTORS)}")
