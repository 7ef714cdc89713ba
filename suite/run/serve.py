"""Serving under load, the run's last step: each network and deployed format driven by MLPerf LoadGen.

After the final lap, in the same window (the run still holds the folder's lock and its executor has finished, so
nothing else of the suite runs), this step loads each network's Keras model and each of its deployed files as the
lap does (``suite.run.lap``) and serves it in LoadGen's SingleStream, Offline and Server scenarios
(``suite.measure.serving``): SingleStream's p90, Offline's images per second, and the highest Server rate whose
p99 keeps within the profile's bound. The profile's ``ServeBudget`` says which networks (``scope``: every one, or
those on the accuracy-against-latency front as the report computes it from the folder's rows, so that the run
and the report name the same networks) and how long each LoadGen run lasts. Each LoadGen run is one row of
``serving.csv``; a (network, format) that fails is one row with its error, and the step stops starting new ones
once it has served for ``total_s``.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from suite import storage
from suite.environment import FINGERPRINT_FIELDS, configure_device
from suite.measure.serving import Run, Serving, serve
from suite.profiles import ServeBudget
from suite.progress import duration
from suite.report.folder import ResultsFolder
from suite.report.front import latency_front
from suite.report.lap import with_lap
from suite.report.summary import per_case
from suite.run.lap import Entry, format_entries, keras_entries, load
from suite.run.plan import Machine
from suite.run.settings import RunSettings

log = logging.getLogger("suite")

SCOPES = ("all", "front", "off")
NetworkKey = tuple[str, str, str, int]  # device_name, dataset, arch, image_size


def final_serve(settings: RunSettings, machine: Machine, rows: list[dict]) -> Path | None:
    """Serves the folder's networks and formats after the final lap (``serve_folder``), on this machine only,
    where this run trained something or the folder has no serving rows yet. A failure is one logged line: the
    rows already written stay as they are."""
    if settings.executor == "ray" and settings.address is not None:
        log.info("serving: not measured, as the jobs ran on a Ray cluster; run suite run again here to serve them")
        return None
    results_dir = settings.results_dir
    if not any(r["status"] == "ok" for r in rows) and storage.read_serving(results_dir) is not None:
        return None
    try:
        configure_device(machine.device)
        return serve_folder(results_dir, machine.environment, machine.device, settings.profile.serve)
    except Exception as error:  # noqa: BLE001 - serving is the last word of a run, never the loss of one
        log.error("serving failed (%s: %s); the results and the lap are as they were", type(error).__name__, error)
        return None


def front_networks(results_dir: Path) -> set[NetworkKey]:
    """The networks with a case on the accuracy-against-latency front, computed as the report computes it
    (``per_case`` rows with the lap's latencies, then ``latency_front``)."""
    folder = ResultsFolder.read(results_dir)
    front = latency_front(with_lap(per_case(folder.results), folder.lap()))
    if front.empty:
        return set()
    on = front[front["on_front"].astype(bool)]
    return {(r.device_name, r.dataset, r.arch, int(r.image_size)) for r in on.itertuples() if pd.notna(r.image_size)}


def network_key(entry: Entry) -> NetworkKey:
    network = entry.network
    return network["device_name"], network["dataset"], network["arch"], int(network["image_size"])


def chosen_entries(results_dir: Path, ok: pd.DataFrame, scope: str) -> list[Entry]:
    """What ``scope`` serves of the folder's ``ok`` rows: each network's Keras model and deployed files, one network
    after another, fastest first (its cases' median p50): a spent ``total_s`` then leaves whole networks served,
    and as many as it can, since loading and tracing a slow network alone can take seconds."""
    if scope not in SCOPES:
        raise ValueError(f"ServeBudget.scope must be one of {', '.join(SCOPES)}; received: scope={scope!r}")
    networks = keras_entries(results_dir, ok)
    if scope == "front":
        chosen = front_networks(results_dir)
        networks = [n for n in networks if network_key(n) in chosen]
    speed = {n.cases: ok.loc[ok["case_id"].isin(n.cases), "latency_p50_ms"].median() for n in networks}
    networks.sort(key=lambda n: (pd.isna(speed[n.cases]), speed[n.cases]))
    files = format_entries(networks, storage.read_formats(results_dir))
    return [e for n in networks for e in (n, *(f for f in files if f.cases == n.cases))]


def serve_folder(results_dir: Path, environment: dict, device: str, budget: ServeBudget) -> Path | None:
    """Serves what ``budget`` chooses of the networks that ran ok on this machine (``environment``'s fingerprint,
    ``device``) and appends their rows to ``serving.csv``; None where there is nothing to serve."""
    if budget.scope == "off":
        return None
    if importlib.util.find_spec("mlperf_loadgen") is None:
        log.warning("serving: not measured: MLPerf LoadGen is not installed (pip install mlcommons-loadgen)")
        return None
    results = storage.read_results(results_dir)
    ok = results[(results["status"] == "ok") & (results["device"] == device)]
    entries = chosen_entries(results_dir, ok[ok["fingerprint"] == environment["fingerprint"]], budget.scope)
    if not entries:
        return None
    storage.prepare_serving(results_dir)
    session = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    stamp = {k: environment.get(k, "") for k in ("fingerprint", *FINGERPRINT_FIELDS, "suite_version")}
    log.info("serving: %d file(s) under LoadGen, runs of %s s at least, p99 bound %s ms",
             len(entries), budget.min_duration_s, budget.bound_ms)  # fmt: skip
    started = time.perf_counter()
    for done, entry in enumerate(entries):
        if budget.total_s is not None and time.perf_counter() - started >= budget.total_s:
            log.info("serving: %d file(s) not served: the profile's %s of serving is spent",
                     len(entries) - done, duration(budget.total_s))  # fmt: skip
            break
        for row in serve_entry(results_dir, entry, budget, session):
            storage.append_serving_row(results_dir, {**row, **stamp})
    log.info("serving: done in %s", duration(time.perf_counter() - started))
    return storage.serving_path(results_dir)


def log_folder(results_dir: Path, entry: Entry, session: str) -> Path:
    """``serving/<arch>-<side>px-<dataset>-<graph>-<format>/<session>/``: one folder per served file and step."""
    network = entry.network
    name = f"{network['arch']}-{network['image_size']}px-{network['dataset']}-{network['graph']}-{entry.format}"
    return Path(results_dir) / storage.SERVING_FOLDER / name / session


def serve_entry(results_dir: Path, entry: Entry, budget: ServeBudget, session: str) -> list[dict]:
    """The ``serving.csv`` rows of one network in one format: one per LoadGen run, or one failed row."""
    identity = {**entry.network, "format": entry.format, "runtime": entry.runtime, "xla": entry.xla,
                "cases": " ".join(entry.cases), "path": str(entry.path), "session": session,
                "bound_ms": budget.bound_ms, "min_duration_s": budget.min_duration_s,
                "min_queries": budget.min_queries, "offline_batch": budget.offline_batch}  # fmt: skip
    started = datetime.now(UTC).isoformat(timespec="seconds")
    try:
        call, image = load(entry)
        served = serve(call, np.asarray(image), log_folder(results_dir, entry, session), budget)
    except Exception as error:  # noqa: BLE001 - one file that won't serve leaves the others to serve
        log.warning("serving: %s (%s) not served: %s: %s", entry.network["network"], entry.format,
                    type(error).__name__, error)  # fmt: skip
        return [{**identity, "status": "failed", "error": f"{type(error).__name__}: {error}", "started_at": started,
                 "finished_at": datetime.now(UTC).isoformat(timespec="seconds")}]  # fmt: skip
    times = {"status": "ok", "started_at": started, "finished_at": datetime.now(UTC).isoformat(timespec="seconds")}
    log.info("serving: %s (%s): p90 %.3g ms, %.4g images/s offline, %.4g queries/s at p99 <= %g ms",
             entry.network["network"], entry.format, served.single_stream.p90_ms, served.offline.samples_per_s,
             served.peak_qps, budget.bound_ms)  # fmt: skip
    return [{**identity, **times, **run_row(run, step, budget.bound_ms, results_dir)} for step, run in runs(served)]


def runs(served: Serving) -> list[tuple[int, Run]]:
    """Every LoadGen run of one serving, with its step: SingleStream and Offline 0, the Server search 0, 1, ..."""
    return [(0, served.single_stream), (0, served.offline), *enumerate(served.server_runs)]


def run_row(run: Run, step: int, bound_ms: float, results_dir: Path) -> dict:
    """The figures of one LoadGen run, as ``serving.csv`` columns."""
    server = run.scenario == "Server"
    return {
        "scenario": run.scenario,
        "step": step,
        "target_qps": run.target_qps if server else None,
        "within_bound": bool(run.p99_ms <= bound_ms) if server else None,
        "loadgen_result": "VALID" if run.valid else "INVALID",
        "loadgen_valid": run.valid,
        "latency_p50_ms": run.p50_ms,
        "latency_p90_ms": run.p90_ms,
        "latency_p99_ms": run.p99_ms,
        "samples_per_s": run.samples_per_s,
        "log_dir": os.path.relpath(run.log_dir, results_dir) if run.log_dir else "",
    }
