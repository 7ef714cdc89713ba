"""The machine's drift in a run: speed probes taken and kept (``suite.measure.speed``, ``suite.storage.speed``),
and the final lap's intervals widened by the drift they show.

Each timed job probes the machine in its exclusive timing slot, and each final lap once (the median of its processes'
probes, timed beside its entries). The lap's rows then carry ``drift_sd`` (the pooled log spread of this machine's
newest probes, this run's and earlier ones) and ``drift_probes``, and their p50 and p90 intervals join
``suite.stats.drift_half`` in quadrature.
"""

from __future__ import annotations

import logging
from pathlib import Path

from suite import stats
from suite.deploy.runtimes import tf_threads
from suite.measure import speed
from suite.storage.speed import append_probe, read_probes

log = logging.getLogger("suite")

INTERVALS = (("latency_p50_ms", "latency_p50_ci_low_ms", "latency_p50_ci_high_ms"),
             ("latency_p90_ms", "latency_p90_ci_low_ms", "latency_p90_ci_high_ms"))  # fmt: skip


def record(where: str, folder: Path, fingerprint: str, p50_ms: float | None = None) -> float:
    """Keeps one probe of the machine taken ``where`` (``job`` or ``lap``): ``p50_ms`` if the caller timed it
    already, else one taken now; returns it."""
    try:
        p50_ms = speed.probe_ms() if p50_ms is None else p50_ms
    except Exception as error:  # noqa: BLE001 - a probe that fails costs the probe, never the job
        log.warning("speed probe (%s) failed: %s", where, error)
        return float("nan")
    row = {"probe": speed.PROBE, "where": where, "threads": tf_threads(), "folder": str(folder), "p50_ms": p50_ms}
    append_probe(fingerprint, row)
    return p50_ms


def widen_rows(rows: list[dict], fingerprint: str) -> list[dict]:
    """``rows`` (lap rows) with the drift of this machine's kept probes joined to their intervals, and the
    ``drift_sd`` and ``drift_probes`` columns."""
    sd, count = speed.drift_sd(read_probes(fingerprint, speed.PROBE))
    half = stats.drift_half(sd)
    if count:
        log.info("final lap: the machine drifted %.1f%% (log sd, %d probes); intervals include it", 100 * sd, count)
    widened = []
    for row in rows:
        row = {**row, "drift_sd": sd, "drift_probes": count}
        for value, low, high in INTERVALS:
            row[low], row[high] = stats.widen(row[value], row[low], row[high], half)
        widened.append(row)
    return widened
