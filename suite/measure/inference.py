"""The measurement protocol: how a trained model's speed and cost become a row and two side tables.

Each execution mode (graph, XLA) is measured in float32: batch-1 latency
(``latency_points``), then a throughput sweep over batch sizes
(``throughput_points``). On GPU, ``mixed_float16`` and ``mixed_bfloat16``
copies are measured too, at batch 1 and the probe batch. The row
(``choose_row``) takes the faster mode for each figure (``xla`` for latency,
``throughput_xla`` for throughput), as XLA helps some models and hurts others;
every point measured goes to the side tables, so nothing chosen away is lost.

Row figures (see ``results/README.md``): latency p50/p90/p99/mean/std/n and a
95% interval on p50 over windows of the run; ``throughput_ips`` at ``throughput_batch``;
FLOPs per image (NaN where the graph can't be frozen and counted); achieved
GFLOP/s against the machine's roof (``suite.measure.roof``).
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

import pandas as pd

from suite.measure import model_facts, timing
from suite.measure.roof import roof_gflops
from suite.profiles import MeasureBudget

log = logging.getLogger(__name__)

MODES = {"graph": False, "xla": True}
Calls = dict[str, timing.Call]  # mode -> compiled call of one precision's model


@dataclass(kw_only=True)
class InferenceReport:
    """What measuring one model gives: the row's figures, every (precision, mode, batch) point, raw latencies."""

    row: dict
    points: pd.DataFrame  # precision, xla, batch, images_per_s, oom, latency summary at batch 1, first_call_s
    samples: pd.DataFrame  # precision, xla, window, latency_ms: every timed batch-1 call


def measure_inference(model, side: int, budget: MeasureBudget, device: str) -> InferenceReport:
    """Runs the protocol on ``model`` at ``side`` x ``side`` inputs; see the module docstring."""
    started = time.perf_counter()
    points: list[dict] = []
    samples: list[pd.DataFrame] = []
    for precision in ["float32"] + (list(budget.gpu_precisions) if device == "gpu" else []):
        variant = model_facts.with_precision(model, precision)
        calls = {mode: timing.compiled_call(variant, xla=MODES[mode]) for mode in budget.modes}
        latency, taken = latency_points(calls, side, budget, precision)
        points += latency + throughput_points(calls, side, budget, precision)
        samples += taken
    # Batch 1 appears twice per mode (latency, and the sweep): merged into one row.
    frame = pd.DataFrame(points).groupby(["precision", "xla", "batch", "oom"], sort=True, as_index=False).first()
    row = {**choose_row(frame, model, side, device), "measure_seconds": time.perf_counter() - started}
    _log_row(row)
    return InferenceReport(row=row, points=frame, samples=pd.concat(samples, ignore_index=True))


def latency_points(
    calls: Calls, side: int, budget: MeasureBudget, precision: str
) -> tuple[list[dict], list[pd.DataFrame]]:
    """Batch-1 latency of each mode, interleaved: one summary point per mode, and every timed call."""
    one = timing.random_images(1, side)
    first_call_s = {mode: timing.timed(call, one) for mode, call in calls.items()}  # tracing, XLA compiling
    latencies = timing.interleaved_latencies(
        calls, one, budget.warmup_runs, budget.latency_runs, budget.latency_min_s, budget.latency_max_s
    )
    points, samples = [], []
    for mode in calls:
        windows = timing.window_labels(len(latencies[mode]))
        key = {"precision": precision, "xla": MODES[mode]}
        summary = timing.latency_summary(latencies[mode], windows)
        samples.append(pd.DataFrame({**key, "window": windows, "latency_ms": latencies[mode]}))
        points.append({**key, "batch": 1, "oom": False, "first_call_s": first_call_s[mode], **summary})
        log.info(
            "  %s %s: p50 %.2f ms at batch 1 (first call %.1f s)",
            precision,
            mode,
            summary["latency_p50_ms"],
            first_call_s[mode],
        )
    return points, samples


def throughput_points(calls: Calls, side: int, budget: MeasureBudget, precision: str) -> list[dict]:
    """Images/s of each mode at each batch that fits (float32: the sweep; other precisions: the probe batch),
    interleaved; a batch out of memory is a point with ``oom`` set."""
    configs, points = {}, []
    for mode, call in calls.items():
        batches = list(budget.batches) if precision == "float32" else [budget.probe_batch]
        fits, oom = timing.feasible_batches(call, side, batches)
        configs.update({(mode, batch): (call, batch, seconds) for batch, seconds in fits.items()})
        points.extend({"precision": precision, "xla": MODES[mode], "batch": b, "oom": True} for b in oom)
    rates = timing.interleaved_throughput(
        configs, side, budget.throughput_runs, budget.throughput_min_s, budget.throughput_max_s
    )
    for (mode, batch), (best, median) in rates.items():
        key = {"precision": precision, "xla": MODES[mode], "batch": batch, "oom": False}
        points.append({**key, "images_per_s": best, "median_images_per_s": median})
    for mode in calls:
        rated = ", ".join(f"{b}: {r[0]:.0f}" for (m, b), r in rates.items() if m == mode)
        log.info("  %s %s: images/s by batch: %s", precision, mode, rated or "none fit in memory")
    return points


def choose_row(frame: pd.DataFrame, model, side: int, device: str) -> dict:
    """The row's figures from the float32 points: the faster mode's latency, the best throughput, FLOPs, roof."""
    float32 = frame[frame["precision"] == "float32"]
    at_one = float32[float32["batch"] == 1].dropna(subset=["latency_p50_ms"])
    chosen = at_one.loc[at_one["latency_p50_ms"].idxmin()]
    best = float32.loc[float32["images_per_s"].idxmax()]
    p50 = at_one.set_index("xla")["latency_p50_ms"]
    flops = flops_or_nan(model, side)
    return {
        "precision": "float32",
        "xla": bool(chosen["xla"]),
        "xla_speedup": p50[False] / p50[True] if len(p50) == 2 else None,
        **{k: v for k, v in chosen.items() if k.startswith("latency_")},
        "latency_n": int(chosen["latency_n"]),
        "throughput_ips": float(best["images_per_s"]),
        "throughput_batch": int(best["batch"]),
        "throughput_xla": bool(best["xla"]),
        "throughput_oom_batch": int(frame.loc[frame["oom"], "batch"].min()) if frame["oom"].any() else None,
        "gflops_per_image": flops / 1e9,
        **roofline(flops * best["images_per_s"] / 1e9, device),
    }


def flops_or_nan(model, side: int) -> float:
    """FLOPs per image; NaN (with a warning) for a graph the profiler can't freeze, rather than a failed case."""
    try:
        return model_facts.flops_per_image(model, side)
    except Exception as error:
        log.warning("  FLOPs not counted, %s: %s", type(error).__name__, str(error).strip().split("\n")[0][:200])
        return math.nan


def roofline(achieved_gflops: float, device: str) -> dict:
    """The row's roof columns: both peaks, and the achieved rate's fraction of the larger (``suite.measure.roof``)."""
    measured, theoretical, roof = roof_gflops(device)
    fraction = achieved_gflops / roof
    if fraction > 1:  # the roof is the larger of two peaks: above it, a count or a clock is wrong
        log.warning("  roofline_fraction %.2f is above 1: the FLOP count or the throughput is wrong", fraction)
    return {
        "achieved_gflops": achieved_gflops,
        "peak_gflops": measured,
        "theoretical_gflops": theoretical,
        "roofline_fraction": fraction,
    }


def _log_row(row: dict) -> None:
    log.info(
        "  row: %s p50 %.2f ms [%.2f, %.2f]; %s %.0f images/s at batch %d; %.0f%% of a %.0f GFLOP/s roof",
        "xla" if row["xla"] else "graph",
        row["latency_p50_ms"],
        row["latency_p50_ci_low_ms"],
        row["latency_p50_ci_high_ms"],
        "xla" if row["throughput_xla"] else "graph",
        row["throughput_ips"],
        row["throughput_batch"],
        100 * row["roofline_fraction"],
        max(row["peak_gflops"], row["theoretical_gflops"] or 0.0),
    )
