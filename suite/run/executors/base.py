"""What every executor shares: a ``Job``, the run's ``Settings``, the ``Executor`` protocol, and ``OneAtATime``."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from suite.case import Case


@dataclass(frozen=True)
class Job:
    """One case for one seed, with the key a rerun uses to recognise it as done."""

    case: Case
    seed: int
    key: str  # suite.run.runner.case_key: case fields, suite version, machine fingerprint

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
    formats: tuple[str, ...] | None = None  # deployed formats (suite.deploy); None: the profile's

    def with_device(self, device: str) -> Settings:
        return dataclasses.replace(self, device=device)


OnEvent = Callable[[dict], None]


class Executor(Protocol):
    """Where jobs run. ``environment`` is the machine the rows will name (its fingerprint guards the folder)."""

    settings: Settings  # device already resolved to cpu or gpu
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

    def __init__(self, settings: Settings):
        from suite.environment import configure_device, environment

        self.settings = settings.with_device(configure_device(settings.device))
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
