"""Training side by side, timing alone: how many jobs run at once, with how many threads, and the lock that keeps
every timing exclusive.

``suite run --jobs N`` lets up to N jobs train at once. On two cores a small network's training step is too small to
keep two threads busy: two jobs of one thread each train more images per second than one job of two threads
(measured in ``benchmarks/test_jobs_throughput.py``). A big network uses both threads well and runs alone with all
of them. ``slots`` says which is which: a job takes one slot and ``cores / N`` threads when its architecture is
small, else every slot and every thread.

Timing must never share the cores with training. Every job holds the folder's timing lock (``fcntl.flock`` on
``DIR/.timing.lock``) *shared* while it searches, pretrains, trains, evaluates and exports its deployed formats,
and *exclusively* while it measures latency, throughput or its deployed files, so a job times only when no other
job trains, and no job trains while one times. A training job lets go of its shared hold for a moment at each
epoch's end (``YieldToTiming``), so a job that waits to time waits one epoch, not the other's whole training. Each
held span is one line of ``DIR/logs/phases.jsonl`` (job, phase, start, end, pid), which is how the tests show that
no timing overlapped training. The final lap and serving run after every job has ended.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import keras

from suite.case import Case
from suite.regimes import REGIMES

LOCK_FILE = ".timing.lock"
PHASES_FILE = "phases.jsonl"  # under DIR/logs/
# Parameters (with a 10-class head) up to which a job trains side by side with others. The suite's two networks
# (0.1 and 0.27 M) and MobileNetV2 (2.3 M) keep one thread busy and leave two threads half idle; ResNet50 and
# InceptionV3 (22-24 M) use both: benchmarks/test_jobs_throughput.py measures the small side.
SIDE_BY_SIDE_MAX_PARAMS = 3_000_000


def default_jobs(cores: int | None = None) -> int:
    """Jobs at once when ``--jobs`` is not given: one per core, at most two (one thread each on the 2-core machine
    this suite is measured on; more jobs on a bigger machine share its cores the same way)."""
    cores = cores or len(os.sched_getaffinity(0))
    return max(1, min(2, cores))


def side_by_side(case: Case, params: int | None) -> bool:
    """Whether ``case`` may train beside others: a small network (``params`` known and at most
    ``SIDE_BY_SIDE_MAX_PARAMS``) in a regime that does not time anything while it trains (a tuned search may rank
    trials by latency, so it runs alone)."""
    return params is not None and params <= SIDE_BY_SIDE_MAX_PARAMS and not REGIMES[case.regime].searched


def slots(case: Case, params: int | None, jobs: int) -> int:
    """Slots a job takes of ``jobs``: one when it trains side by side, else all of them."""
    return 1 if jobs > 1 and side_by_side(case, params) else jobs


def threads(taken: int, jobs: int, cores: int | None = None) -> int | None:
    """Intra-op threads for a job taking ``taken`` of ``jobs`` slots: its share of the cores, or None (TensorFlow's
    default, every core) for a job that runs alone."""
    if taken >= jobs:
        return None
    cores = cores or len(os.sched_getaffinity(0))
    return max(1, cores * taken // jobs)


_held: list[Hold] = []  # this process's holds, innermost last: what ``YieldToTiming`` pauses


@dataclass
class Hold:
    """One hold of the timing lock: its file, mode and the span it has held since it last (re)started."""

    results_dir: Path
    job: str
    phase: str
    lock: TextIO
    start: float = 0.0

    def acquire(self) -> None:
        fcntl.flock(self.lock, fcntl.LOCK_EX if self.phase == "time" else fcntl.LOCK_SH)
        self.start = time.time()

    def release(self) -> None:
        end = time.time()
        fcntl.flock(self.lock, fcntl.LOCK_UN)
        hold = {"job": self.job, "phase": self.phase, "start": self.start, "end": end, "pid": os.getpid()}
        record(self.results_dir, hold)

    def pause(self) -> None:
        """Lets a job that waits to time go first: releases, then takes the lock again (after that timing)."""
        self.release()
        time.sleep(PAUSE_S)
        self.acquire()


PAUSE_S = 0.02  # between releasing a shared hold and asking again: a waiting timer is granted the lock first


@contextmanager
def holding(results_dir: Path, job: str, phase: str) -> Iterator[Hold]:
    """Holds the folder's timing lock for ``phase``: ``time`` exclusive (nothing else trains or times), any other
    phase (``train``, ``export``) shared; appends each held span to ``DIR/logs/phases.jsonl``."""
    path = Path(results_dir) / LOCK_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as lock:
        hold = Hold(Path(results_dir), job, phase, lock)
        hold.acquire()
        _held.append(hold)
        try:
            yield hold
        finally:
            _held.remove(hold)
            hold.release()


class YieldToTiming(keras.callbacks.Callback):
    """At each epoch's end, a training job under a shared hold lets a job that waits to time go first, so that
    job waits one epoch, not the rest of this job's training (``flock`` favours no waiter by itself)."""

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if _held and _held[-1].phase != "time":
            _held[-1].pause()


def record(results_dir: Path, hold: dict) -> None:
    """Appends one hold as a JSON line (one ``write`` on an ``O_APPEND`` file: lines of two jobs never mix)."""
    logs = Path(results_dir) / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(logs / PHASES_FILE, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.write(descriptor, (json.dumps(hold) + "\n").encode())
    finally:
        os.close(descriptor)


def overlaps(holds: list[dict]) -> list[tuple[dict, dict]]:
    """Pairs of holds of two different jobs where one timed while the other trained or timed: what must never be."""
    timed = [h for h in holds if h["phase"] == "time"]
    return [
        (a, b)
        for a in timed
        for b in holds
        if b is not a and b["job"] != a["job"] and a["start"] < b["end"] and b["start"] < a["end"]
    ]


def held_seconds(results_dir: Path, job: str, phase: str, since: float = 0.0) -> float:
    """Seconds ``job`` (a ``Job.label``) held ``phase`` in this folder from ``since`` (epoch seconds: an earlier
    run of the same job, or a retry, is not this one), by ``read_holds``."""
    holds = read_holds(results_dir)
    return sum(h["end"] - h["start"] for h in holds if h["job"] == job and h["phase"] == phase and h["start"] >= since)


def read_holds(results_dir: Path) -> list[dict]:
    """Every hold ``DIR/logs/phases.jsonl`` records (none if absent)."""
    path = Path(results_dir) / "logs" / PHASES_FILE
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
