"""The final lap: every network and deployed format of a results folder timed again, side by side, alone.

Each case's own latency is measured in its job, minutes apart from the others, so the load of each moment is
baked into one network's figure and the front compares moments, not networks. After the jobs of a run are done
(nothing else of the suite runs then: the run holds the folder's lock and its executor has finished), the lap
loads one model per network and one file per (network, format) and times them in rounds, in a new random order
each round (``suite.measure.timing.round_latencies``). A load swing then hits every candidate alike.

It does so in ``lap_processes`` fresh processes, one after another, and pools their calls: each process loads its
own models and meets the machine at another moment, and that spread, not the one between rounds of one process,
is what a rerun sees. Six one-process laps of one folder on a Zen 5 machine, back to back, moved MobileNetV2's p50
from 3.45 to 4.98 ms while each lap's rounds agreed within about 10%; intervals from rounds covered the other laps'
p50s in 71-86% of checks. ``suite.measure.timing.pooled_summary`` joins the rounds' rerun interval with the
spread between processes. ``lap.csv`` holds the figures; the report reads them.

One network is one inference graph: the regimes of an architecture at one side share it (``graph_signature``
hashes the saved model's layers, leaving out names and trainable flags), so they get one latency; a regime whose
graph differs (another head) is timed on its own. Entries are loaded together up to ``LAP_MAX_MB`` of files; a
folder with more is timed in chunks of that size, each side by side.
"""

from __future__ import annotations

import hashlib
import json
import logging
import multiprocessing
import zipfile
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import keras
import numpy as np
import pandas as pd

from suite import plugins, storage
from suite.deploy.runtimes import RUNTIMES, tf_threads
from suite.environment import FINGERPRINT_FIELDS
from suite.measure import speed, timing
from suite.models import hub  # noqa: F401 - registers the suite's hub layer, which saved hub models hold
from suite.run import drift

log = logging.getLogger("suite")

PROBE = "probe"  # the speed probe's key among a process's samples
LAP_MAX_MB = 3000.0  # files loaded at once for one side-by-side chunk
# What a saved config holds that does not change the inference graph: names, trainable flags, seeds, the wiring
# by name, the Python object ids of shared dtype policies, and how the model was compiled for training.
IGNORED_KEYS = {"name", "trainable", "inbound_nodes", "input_layers", "output_layers", "seed", "shared_object_id"}
IGNORED_KEYS |= {"compile_config"}  # the optimizer the case trained with (its learning rate differs by regime)


@dataclass(frozen=True, kw_only=True)
class Entry:
    """One thing the lap times: a network's model or one of its deployed files."""

    network: dict  # device, device_name, dataset, arch, image_size, graph, network
    format: str  # keras, or a deployed format
    runtime: str  # a key of suite.deploy.runtimes.RUNTIMES
    path: Path
    xla: bool  # keras only: the execution mode the case's own measurement chose
    cases: tuple[str, ...]  # the case ids whose rows this figure stands for


def graph_signature(keras_path: Path) -> str:
    """12 hex digits of the layers of a ``.keras`` file (classes and configs, without names, trainable flags,
    seeds or wiring): equal for the regimes of one network, different where a layer differs."""

    def strip(node):
        if isinstance(node, dict):
            return {k: strip(v) for k, v in node.items() if k not in IGNORED_KEYS}
        return [strip(v) for v in node] if isinstance(node, list) else node

    with zipfile.ZipFile(keras_path) as archive:
        config = json.loads(archive.read("config.json"))
    return hashlib.sha256(json.dumps(strip(config), sort_keys=True).encode()).hexdigest()[:12]


def case_models(results_dir: Path, ok: pd.DataFrame) -> list[tuple[dict, Entry]]:
    """Each case's saved model (its lowest seed that kept one) as a ``keras`` entry, with its network."""
    found = []
    for case_id, rows in ok.sort_values(["dataset", "arch", "case_id", "seed"]).groupby("case_id", sort=False):
        for _, row in rows.iterrows():
            path = storage.case_file(results_dir, "models", case_id, int(row["seed"]), ".keras")
            if path.is_file():
                try:
                    graph = graph_signature(path)
                except (zipfile.BadZipFile, KeyError, json.JSONDecodeError, OSError) as error:
                    log.warning("final lap: %s not timed: its model %s is unreadable (%s)", case_id, path.name, error)
                    break
                side = int(row["image_size"])
                network = {k: row[k] for k in ("device", "device_name", "dataset", "arch")}
                network.update(image_size=side, graph=graph, network=f"{row['arch']} @ {side} px")
                xla = str(row.get("xla")).lower() == "true"
                found.append((network, Entry(network=network, format="keras", runtime="keras", path=path, xla=xla,
                                             cases=(case_id,))))  # fmt: skip
                break
    return found


def keras_entries(results_dir: Path, ok: pd.DataFrame) -> list[Entry]:
    """One ``keras`` entry per network (dataset, architecture, side and graph): its first case's model stands for
    every case of the network."""
    networks: dict[tuple, Entry] = {}
    for network, entry in case_models(results_dir, ok):
        key = tuple(network.values())
        first = networks.setdefault(key, entry)
        if first is not entry:
            networks[key] = Entry(**{**vars(first), "cases": (*first.cases, *entry.cases)})
    return list(networks.values())


def format_entries(networks: list[Entry], formats: pd.DataFrame) -> list[Entry]:
    """One entry per network and deployed format: the file of the network's first case (lowest seed) that has one."""
    ok = formats[(formats["status"] == "ok") & (formats["format"] != "keras")] if len(formats) else formats
    entries = []
    for network in networks:
        rows = ok[ok["case_id"].isin(network.cases) & (ok["device_name"] == network.network["device_name"])]
        for fmt, chosen in rows.sort_values(["case_id", "seed"]).groupby("format", sort=True):
            row = chosen.iloc[0]
            entries.append(Entry(network=network.network, format=fmt, runtime=row["runtime"], path=Path(row["path"]),
                                 xla=False, cases=network.cases))  # fmt: skip
    return entries


def chunks(entries: list[Entry], max_mb: float = LAP_MAX_MB) -> list[list[Entry]]:
    """``entries`` in order, cut into runs whose files add up to at most ``max_mb`` (one entry at least each)."""
    cut, size = [[]], 0.0
    for entry in entries:
        mb = file_mb(entry.path)
        if cut[-1] and size + mb > max_mb:
            cut.append([])
            size = 0.0
        cut[-1].append(entry)
        size += mb
    return [c for c in cut if c]


def file_mb(path: Path) -> float:
    """A file's or a folder's (SavedModel, OpenVINO) size in MB."""
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    return sum(p.stat().st_size for p in files) / 1e6


def load_model_call(path: Path, xla: bool = False):
    """A saved ``.keras`` model as one traced (``xla``: XLA-compiled) function, and a batch-1 input of its side."""
    model = keras.models.load_model(path, compile=False)
    return timing.compiled_call(model, xla=xla), timing.random_images(1, int(model.input_shape[1]))


def load(entry: Entry):
    """The entry's call path: the Keras model as one traced (``xla``: XLA-compiled) function, a runtime's
    ``predict`` otherwise; and its batch-1 input (a tensor for Keras, an array for a runtime)."""
    if entry.runtime == "keras":
        return load_model_call(entry.path, entry.xla)
    image = timing.random_images(1, int(entry.network["image_size"]))
    return RUNTIMES[entry.runtime](entry.path, tf_threads()), np.asarray(image)


def time_entries(entries: list[Entry], rounds: int, calls: int, warmup: int, seed: int, archs: dict | None):
    """One lap process: loads ``entries`` and times them side by side; returns each loaded entry's latencies and
    round labels by index, and why each other entry did not load. ``archs``: the run's user architectures."""
    plugins.restore(archs)
    loaded, failed = {}, {}
    for i, entry in enumerate(entries):
        try:
            loaded[i] = load(entry)
        except Exception as error:  # noqa: BLE001 - one file that won't load leaves the others to time
            failed[i] = f"{type(error).__name__}: {error}"
    if not loaded:
        return {}, failed
    loaded[PROBE] = speed.probe_call()  # the machine's speed, timed beside the entries (suite.run.drift)
    samples = timing.round_latencies(
        {i: call for i, (call, _) in loaded.items()}, {i: image for i, (_, image) in loaded.items()},
        rounds, calls, warmup, seed=seed,
    )  # fmt: skip
    return samples, failed


def warn_unloaded(entries: list[Entry], failed: dict[int, str]) -> None:
    """One warning line per entry that did not load, with why."""
    for i, why in failed.items():
        log.warning("final lap: %s (%s) not timed: %s", entries[i].network["network"], entries[i].format, why)


def time_in_processes(entries: list[Entry], budget) -> list[dict]:
    """Each process's samples of ``entries`` (``time_entries``), one fresh process after another; with
    ``lap_processes`` 1 (smoke), this process's.

    A process that dies (a runtime's crash) is left out with a warning; the others still count."""
    if budget.lap_processes <= 1:
        samples, failed = time_entries(entries, budget.lap_rounds, budget.lap_calls, budget.warmup_runs, 0, None)
        warn_unloaded(entries, failed)
        return [samples]
    context, archs, per_process, warned = multiprocessing.get_context("spawn"), plugins.carried(), [], set()
    for seed in range(budget.lap_processes):
        args = (entries, budget.lap_rounds, budget.lap_calls, budget.warmup_runs, seed, archs)
        try:
            with ProcessPoolExecutor(1, mp_context=context) as pool:
                samples, failed = pool.submit(time_entries, *args).result()
        except BrokenProcessPool:
            log.warning("final lap: process %d of %d died; the lap keeps the others", seed + 1, budget.lap_processes)
            continue
        warn_unloaded(entries, {i: why for i, why in failed.items() if i not in warned})
        warned |= set(failed)
        per_process.append(samples)
    return per_process


def time_chunk(entries: list[Entry], budget) -> tuple[list[dict], list[float]]:
    """The lap rows of one chunk: its entries loaded together and timed side by side in ``budget.lap_processes``
    processes, every process's calls pooled, the spread between processes joined to the intervals; and each
    process's speed probe (ms)."""
    started = datetime.now(UTC).isoformat(timespec="seconds")
    per_process = time_in_processes(entries, budget)
    finished = datetime.now(UTC).isoformat(timespec="seconds")
    probes = [float(np.median(samples.pop(PROBE)[0])) for samples in per_process if PROBE in samples]
    rows = []
    for i, entry in enumerate(entries):
        parts = [samples[i] for samples in per_process if i in samples]
        if not parts:
            continue
        rows.append({**entry.network, "format": entry.format, "runtime": entry.runtime, "xla": entry.xla,
                     "cases": " ".join(entry.cases), "path": str(entry.path), "processes": len(parts),
                     "rounds": budget.lap_rounds, "calls_per_round": budget.lap_calls,
                     **timing.pooled_summary(parts), "started_at": started, "finished_at": finished})  # fmt: skip
    return rows, probes


def run_lap(results_dir: Path, environment: dict, device: str, budget) -> Path | None:
    """Times every network and deployed format of ``results_dir`` that ran ok on this machine (``environment``'s
    fingerprint, ``device``) and writes ``lap.csv``; None where there is nothing to time or ``budget`` (the
    profile's ``MeasureBudget``) asks for no lap."""
    results = storage.read_results(results_dir)
    ok = results[(results["status"] == "ok") & (results["device"] == device)]
    ok = ok[ok["fingerprint"] == environment["fingerprint"]]
    if budget.lap_rounds < 1 or ok.empty:
        return None
    networks = keras_entries(results_dir, ok)
    entries = networks + format_entries(networks, storage.read_formats(results_dir))
    if not entries:
        return None
    log.info("final lap: %d network(s), %d file(s), side by side in %d process(es) of %d rounds of %d calls each",
             len(networks), len(entries), budget.lap_processes, budget.lap_rounds, budget.lap_calls)  # fmt: skip
    stamp = {k: environment.get(k, "") for k in ("fingerprint", *FINGERPRINT_FIELDS, "suite_version")}
    rows, probes = [], []
    for chunk in chunks(entries):
        timed, probed = time_chunk(chunk, budget)
        rows, probes = rows + [{**row, **stamp} for row in timed], probes + probed
    if probes:  # one probe per lap: its processes, seconds apart, would understate the drift between runs
        drift.record("lap", results_dir, environment["fingerprint"], float(np.median(probes)))
    rows = drift.widen_rows(rows, environment["fingerprint"])
    return storage.write_lap(results_dir, rows) if rows else None
