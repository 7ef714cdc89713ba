"""A job (one case for one seed), the key a rerun knows it by, and the identity columns of every row.

``case_key`` is what resume compares: the case's fields, the suite version and the machine fingerprint. A folder's
rows keep their keys across versions of this module, so a rerun still skips what an older run finished.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime

import pandas as pd

from suite.case import Case
from suite.environment import device_name, environment
from suite.models import ARCHITECTURES, builder_hash


@dataclass(frozen=True, kw_only=True)
class Job:
    """One case for one seed, with the key a rerun uses to recognise it as done."""

    case: Case
    seed: int
    key: str  # case_key: case fields, suite version, machine fingerprint
    threads: int | None = None  # intra-op threads when it trains beside other jobs (suite.run.parallel); None: all

    @property
    def label(self) -> str:
        return f"{self.case.id} seed {self.seed}"


def priced_case(job: Job, first_seed: int) -> Case:
    """The case as ``job`` trains it, for its cost: a seed after the run's first trains at the rate the first seed's
    grid chose (``suite.run.rate_grid``), so it trains no rungs."""
    if job.seed != first_seed and job.case.lr_grid > 1:
        return dataclasses.replace(job.case, lr_grid=0)
    return job.case


def now() -> str:
    """The time a row starts or finishes, in UTC, to the second."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def case_key(case: Case, env: dict[str, str]) -> str:
    """12 hex digits naming what a row was produced from: the case's fields, the suite version, the machine.

    A rerun skips a case whose key already has an ``ok`` row in the folder. A user architecture's builder
    hash joins them (only then, so built-in cases keep their keys): a changed builder is a new case.
    """
    parts = [case.to_json(), env["suite_version"], env["fingerprint"]]
    identity = json.dumps(parts + ([builder_hash(case.arch)] if builder_hash(case.arch) else []))
    return hashlib.sha256(identity.encode()).hexdigest()[:12]


def jobs_of(cases: list[Case], seeds: tuple[int, ...], env: dict[str, str]) -> list[Job]:
    """Every case for every seed, seed by seed, keyed on the machine ``env`` names."""
    return [Job(case=case, seed=seed, key=case_key(case, env)) for seed in seeds for case in cases]


def done_keys(frame: pd.DataFrame) -> set[tuple[str, int]]:
    """``(case_key, seed)`` of the rows of ``frame`` (a folder's results) already ``ok``: what a rerun skips."""
    if frame.empty or not {"status", "case_key", "seed"} <= set(frame.columns):
        return set()
    ok = frame[(frame["status"] == "ok") & frame["case_key"].ne("")]
    return {(key, int(seed)) for key, seed in zip(ok["case_key"], ok["seed"])}


def base_row(case: Case, seed: int, profile: str, device: str) -> dict:
    """The identity and machine columns every row has, whatever became of the case."""
    env = environment()
    spec = ARCHITECTURES.get(case.arch)
    return {
        "case_id": case.id,
        "arch": case.arch,
        "arch_builder": spec.builder if spec else "",
        "arch_builder_hash": spec.builder_hash if spec else "",
        "regime": case.regime,
        "dataset": case.dataset,
        "seed": seed,
        "profile": profile,
        "case_key": case_key(case, env),
        "train_per_class": case.train_per_class,
        "batch_size": case.batch_size,
        "optimizer": case.optimizer,
        "learning_rate": case.learning_rate,
        "device": device,
        "device_name": device_name(device),
        "started_at": now(),
        "case_json": case.to_json(),
        **env,
    }


def unrun_row(case: Case, seed: int, profile: str, device: str, error: str) -> dict:
    """The ``failed`` row of a job that gave none itself: its dataset was unusable, its worker died, Ray gave up."""
    return {**base_row(case, seed, profile, device), "status": "failed", "error": error, "finished_at": now()}


def outcome(row: dict) -> str:
    """``ok (test accuracy ..., p50 ...)`` or ``failed: error``, for the log."""
    if row["status"] != "ok":
        return f"{row['status']}: {row.get('error', '')}"
    p50 = row.get("latency_p50_ms")
    speed = "not timed" if p50 is None or p50 != p50 else f"p50 {p50:.2f} ms"  # p50 != p50: NaN
    return f"ok (test accuracy {row['test_accuracy']:.3f}, {speed})"
