"""Runs jobs side by side as Ray tasks, on this machine or across a cluster (``suite run --executor ray``).

Each job becomes one task reserving the case's ``task_cpus`` and
``task_gpus`` (0: one GPU on ``--device gpu``). The task runs the job exactly
as ``local`` does, in a fresh worker process with the job's timeout, and
returns the row; the scheduler appends it, so the results folder stays the
one atomic, resumable store whichever executor ran a case. Ray retries a task
whose node or worker process is lost (``max_retries``); a task that fails
anyway becomes a ``failed`` row.

On a cluster every node needs the suite (same version) and the data, and the
results folder must be a path every node can write, a shared file system, as
models, histories, latency samples and logs are written there by the node
that ran the case. Worker progress is not relayed: the run shows each job as
it finishes.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import ray

from suite import storage
from suite.environment import configure_device
from suite.errors import SuiteError, one_line
from suite.plugins import carried, restore
from suite.run.executors.base import Job
from suite.run.executors.local import run_in_worker
from suite.run.jobs import unrun_row
from suite.run.settings import RunSettings

MAX_RETRIES = 3  # Ray reruns a task this often when its node or worker process dies
THREADS = "OMP_NUM_THREADS"  # Ray caps it at the task's num_cpus; the suite's fingerprint records it


def _threads_as(value: str | None) -> None:
    """Gives this Ray worker (and the job's process) the caller's ``OMP_NUM_THREADS``, not Ray's cap.

    A job then runs with the thread settings it has under ``local``, and its
    row carries the same fingerprint and key, so rows from either executor
    mix in one folder. Set ``OMP_NUM_THREADS`` before ``suite run`` to cap it.
    """
    if value is None:
        os.environ.pop(THREADS, None)
    else:
        os.environ[THREADS] = value


def connect(address: str | None) -> bool:
    """Joins the Ray cluster at ``address`` ("auto", HOST:PORT), or (None) starts a new local one; True if this started
    Ray (and so should shut it down). A Ray already initialised in this process is used as it is."""
    if address and address != "auto":  # Ray itself retries a dead address for minutes
        host, _, port = address.rpartition(":")
        try:
            socket.create_connection((host, int(port)), timeout=10).close()
        except (OSError, ValueError) as error:
            raise SuiteError(
                f"--address {address}: no Ray head answers there ({error}); start one with "
                "`ray start --head --port PORT`, or pass --address HOST:PORT of a running one"
            ) from None
    if ray.is_initialized():
        return False
    try:
        ray.init(address=address or "local", include_dashboard=False, log_to_driver=False)
    except (ConnectionError, RuntimeError) as error:
        raise SuiteError(
            f"--address {address}: can't join that Ray cluster ({str(error).strip().splitlines()[0]}); "
            "start it with `ray start --head`, and if Ray said token authentication is on, set RAY_AUTH_MODE=token "
            "here too (with its ~/.ray/auth_token or RAY_AUTH_TOKEN)"
        ) from None
    return True


@ray.remote
def _where(device: str, threads: str | None) -> tuple[str, dict]:
    """The device and the machine fingerprint a task sees: what the rows of this run will say."""
    from suite.environment import configure_device, environment

    _threads_as(threads)
    return configure_device(device), environment()


def where(device: str) -> tuple[str, dict]:
    """Resolves ``device`` (``auto``: ``gpu`` if the cluster has any) and the environment on a worker node.

    The scheduler's own machine may be another kind (a head node without
    GPUs); rows, their keys and the fingerprint guard must name the machines
    that run the jobs.
    """
    if device == "auto":
        device = "gpu" if ray.cluster_resources().get("GPU", 0) > 0 else "cpu"
    return ray.get(_where.options(num_gpus=1 if device == "gpu" else 0).remote(device, os.environ.get(THREADS)))


@ray.remote(max_retries=MAX_RETRIES)
def _run_job(job: Job, settings_json: str, device: str, threads: str | None, archs: dict | None = None) -> dict:
    """One job on a worker node, through the ``local`` executor's worker process; returns the row.

    ``archs``: the caller's user architectures (``suite.plugins.carried``), registered in this Ray worker
    (for the row's key) and passed on to the job's process (to build the case).
    """
    _threads_as(threads)
    restore(archs)
    settings = RunSettings.from_json(settings_json)  # the run's settings whole, as the local worker reads them
    for folder in storage.FOLDERS:  # a node without the shared folder still gets somewhere to write
        (Path(settings.results_dir) / folder).mkdir(parents=True, exist_ok=True)
    return run_in_worker(job, settings, device, lambda event: None)


class RayExecutor:
    """Every job a Ray task, all submitted at once (``side_by_side``); rows come back as tasks finish."""

    side_by_side = True

    def __init__(self, settings: RunSettings):
        self.started_ray = connect(settings.address)
        self.device, self.environment = where(settings.device)
        # The jobs train in Ray tasks; this process only reads datasets (preflight) and must not take the GPUs'
        # memory that TensorFlow would reserve here.
        configure_device("cpu")
        self.settings = settings  # its results_dir is absolute: a Ray worker's working directory is not the caller's

    def resources(self, job: Job) -> dict:
        """What ``job``'s task reserves: the case's CPUs, its GPUs (or one on a GPU device)."""
        gpus = job.case.task_gpus or (1 if self.device == "gpu" else 0)
        return {"num_cpus": job.case.task_cpus, "num_gpus": gpus}

    def run(self, job: Job, on_event: Callable[[dict], None]) -> dict:
        """One job as one task; its row."""
        ((_, row),) = self.run_many([job], on_event)
        return row

    def probe(self, job: Job) -> dict | None:
        """No probe: ``--budget`` estimates ray jobs from earlier rows only."""
        return None

    def run_many(self, jobs: Iterable[Job], on_event: Callable[[dict], None]) -> Iterator[tuple[Job, dict]]:
        """Submits every job at once; yields ``(job, row)`` as each finishes. Leaving early cancels the rest."""
        threads, archs = os.environ.get(THREADS), carried()
        remote = (self.settings.to_json(), self.device, threads, archs)
        tasks = {_run_job.options(**self.resources(job)).remote(job, *remote): job for job in jobs}
        pending = list(tasks)
        try:
            while pending:
                finished, pending = ray.wait(pending, num_returns=1)
                for task in finished:
                    yield tasks[task], self._row(tasks[task], task)
        finally:
            for task in pending:
                ray.cancel(task, force=True)

    def _row(self, job: Job, task) -> dict:
        """The task's row, or a ``failed`` row if Ray gave up on it (retries spent, cancelled)."""
        try:
            return ray.get(task)
        except ray.exceptions.RayError as error:
            why = f"Ray: {one_line(error)}"
            return unrun_row(job.case, job.seed, self.settings.profile.name, self.device, why)

    def close(self) -> None:
        if self.started_ray:
            ray.shutdown()
