"""What every executor shares: a ``Job``, the ``Executor`` protocol, and ``OneAtATime``.

An executor takes the run's ``RunSettings`` whole and resolves ``device`` where its jobs run (``device``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Protocol

from suite.environment import configure_device, environment
from suite.run.jobs import Job
from suite.run.settings import RunSettings

OnEvent = Callable[[dict], None]


class Executor(Protocol):
    """Where jobs run. ``environment`` is the machine the rows will name (its fingerprint guards the folder)."""

    settings: RunSettings  # as built, never rebuilt
    device: str  # settings.device resolved where the jobs run: cpu or gpu
    environment: dict[str, str]  # suite.environment.environment() of the machines that run the jobs
    side_by_side: bool  # True: drive it with run_many (all jobs at once); False: run, one job at a time

    def run(self, job: Job, on_event: OnEvent) -> dict: ...

    def run_many(self, jobs: Iterable[Job], on_event: OnEvent) -> Iterator[tuple[Job, dict]]: ...

    def probe(self, job: Job) -> dict | None:
        """Timings of a few steps of ``job``'s model for ``--budget`` (``Runner.probe``); None if it can't."""
        ...

    def close(self) -> None: ...


class OneAtATime:
    """The part of ``Executor`` shared by executors that run one job at a time on this machine."""

    side_by_side = False

    def __init__(self, settings: RunSettings):
        self.settings = settings
        self.device = configure_device(settings.device)
        self.environment = environment()

    def run(self, job: Job, on_event: OnEvent) -> dict:
        raise NotImplementedError

    def run_many(self, jobs: Iterable[Job], on_event: OnEvent) -> Iterator[tuple[Job, dict]]:
        """Each job in turn; ``jobs`` is read lazily, so the caller may hold one back at the last moment."""
        for job in jobs:
            yield job, self.run(job, on_event)

    def probe(self, job: Job) -> dict | None:
        return None

    def close(self) -> None:
        pass
