"""Runs each job in a fresh worker process (``python -m suite.run.executors.worker``), as timm's bulk runner does.

A crash, an out-of-memory kill, a leak or a global setting (mixed precision,
thread counts, XLA flags) dies with the job's process and can't poison the
next case. The worker's output goes to ``DIR/logs/<case>-s<seed>.log``; its
progress events come back over a pipe. A job that outlives its timeout is
killed with its whole process group. A job that ends without a result (killed,
segfault, timeout) becomes a ``failed`` row here, with the log's tail as its
traceback file. If this process is killed, the worker dies with it (Linux
``PR_SET_PDEATHSIG``), so no orphan keeps training after a ``kill -9``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from suite import progress, storage
from suite.plugins import carried
from suite.run.executors.base import Job, OneAtATime
from suite.run.jobs import unrun_row
from suite.run.runner import PROBE_CALLS, PROBE_STEPS, PROBE_WARMUP
from suite.run.settings import RunSettings

LIVE: set[subprocess.Popen] = set()  # the workers running now (``--jobs N``: up to N, each from its own thread)


class LocalExecutor(OneAtATime):
    """Each job in a fresh worker process on this machine; ``run`` may be called from several threads at once
    (``suite.run.slots``), each call its own worker."""

    def close(self) -> None:
        """Kills the workers still running (the scheduler is stopping: Ctrl-C, or an error of its own)."""
        for worker in list(LIVE):
            _kill_group(worker)

    def run(self, job: Job, on_event: Callable[[dict], None]) -> dict:
        """Runs ``job`` in a worker process; returns its row, or a ``failed`` row if the worker gave none."""
        return run_in_worker(job, self.settings, self.device, on_event)

    def probe(self, job: Job) -> dict | None:
        """Times a few steps of ``job``'s model in a worker (``Runner.probe``), plus the worker's start-up."""
        log_path = storage.case_file(self.settings.results_dir, "logs", job.case.id, job.seed, ".probe.log")
        started = time.perf_counter()
        answer, _ = _ask(job, (self.settings, self.device), log_path, lambda event: None, probe=True)
        if answer is None:
            return None
        timings = answer["probe"]
        measured = timings["trace_s"] + PROBE_STEPS * timings["step_s"] + timings["infer_trace_s"]
        measured += (PROBE_WARMUP + PROBE_CALLS) * timings["infer_s"]
        return {**timings, "startup_s": max(0.0, time.perf_counter() - started - measured)}


def run_in_worker(job: Job, settings: RunSettings, device: str, on_event: Callable[[dict], None]) -> dict:
    """Runs ``job`` in a fresh worker process on ``device`` (resolved: cpu or gpu); returns its row, or a
    ``failed`` row if the worker gave none. The ``ray`` executor's tasks call this too."""
    log_path = storage.case_file(settings.results_dir, "logs", job.case.id, job.seed, ".log")
    answer, outcome = _ask(job, (settings, device), log_path, on_event)
    if answer is not None:
        return answer["row"]
    _keep_log_tail(job, settings, outcome, log_path)
    return unrun_row(job.case, job.seed, settings.profile.name, device, outcome)


def _ask(
    job: Job, where: tuple[RunSettings, str], log_path: Path, on_event: Callable[[dict], None], **extra
) -> tuple[dict | None, str]:
    """Runs the worker on ``job`` under ``where`` (the settings and the resolved device); returns its answer
    (None if it gave none) and how it ended.

    The job file carries this process's user architectures (``suite.plugins.carried``): the worker
    registers them again before it builds the case.
    """
    settings, device = where
    with tempfile.TemporaryDirectory(prefix="suite-job-") as scratch:
        spec = Path(scratch) / "job.json"
        result = Path(scratch) / "result.json"
        spec.write_text(
            json.dumps(
                {
                    "case": job.case.to_json(),
                    "seed": job.seed,
                    "settings": settings.to_json(),
                    "device": device,
                    "result": str(result),
                    "parent_pid": os.getpid(),
                    "archs": carried(),
                    "threads": job.threads,
                    **extra,
                }
            )
        )
        outcome = _spawn(spec, log_path, on_event, settings.timeout_s)
        return (json.loads(result.read_text()) if result.is_file() else None), outcome


def _spawn(spec: Path, log_path: Path, on_event: Callable[[dict], None], timeout_s: float | None) -> str:
    """Runs the worker to its end; returns how it ended, in words."""
    read_end, write_end = os.pipe()
    env = {**os.environ, progress.PROGRESS_FD: str(write_end)}
    with log_path.open("w") as log_file:
        worker = subprocess.Popen(
            [sys.executable, "-m", "suite.run.executors.worker", str(spec)],
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            pass_fds=(write_end,),
            env=env,
            start_new_session=True,  # its own process group, so a timeout kills its children too
        )
    os.close(write_end)
    listener = threading.Thread(target=_relay, args=(read_end, on_event), daemon=True)
    listener.start()
    LIVE.add(worker)
    try:
        code = worker.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        _kill_group(worker)
        listener.join(timeout=5)
        return f"Timeout: no result after {timeout_s:.0f} s (the case's timeout); killed"
    except BaseException:  # Ctrl-C or the scheduler failing: the worker must not outlive us
        _kill_group(worker)
        raise
    finally:
        LIVE.discard(worker)
    listener.join(timeout=5)
    if code < 0:
        name = signal.Signals(-code).name
        hint = " (out of memory? the kernel's OOM killer sends SIGKILL)" if -code == signal.SIGKILL else ""
        return f"Crashed: the worker was killed by {name}{hint}"
    return f"Crashed: the worker exited with code {code} without a result"


def _keep_log_tail(job: Job, settings: RunSettings, outcome: str, log_path: Path) -> None:
    """The log's tail of a job whose worker gave no result becomes its traceback file."""
    tail = log_path.read_text(errors="replace").splitlines()[-60:] if log_path.is_file() else []
    trace = storage.case_file(settings.results_dir, "errors", job.case.id, job.seed, ".txt")
    trace.write_text(f"{outcome}\n\nlast lines of {log_path}:\n" + "\n".join(tail) + "\n")


def _relay(descriptor: int, on_event: Callable[[dict], None]) -> None:
    """Passes the worker's JSON-line events to ``on_event`` until the pipe closes."""
    with os.fdopen(descriptor) as pipe:
        for line in pipe:
            try:
                on_event(json.loads(line))
            except ValueError:
                pass


def _kill_group(worker: subprocess.Popen) -> None:
    try:
        os.killpg(worker.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    worker.wait()
