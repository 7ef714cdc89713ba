"""What the headline's answer rests on, said from the rows themselves: each function returns lines or none.

Every caveat reads only columns of ``results.csv`` and says nothing where a column is absent, so an old
results folder gets the caveats its columns support.
"""

from __future__ import annotations

import pandas as pd

from suite.data.glyphs import CLASSES as GLYPH_CLASSES
from suite.report.front import network_label

GLYPHS = "source:glyphs"  # the weights tag of backbones pretrained on the suite's own letters
NEAR_CHANCE = 2.0  # a source accuracy below this many times chance is near chance
BUSY_ROOF = 0.5  # a matmul roof below this share of the theoretical peak says the machine was busy


def seed_caveats(ok: pd.DataFrame) -> list[str]:
    """How many seeds each case had, and what one seed leaves out."""
    seeds = ok.groupby("case_id")["seed"].nunique()
    if seeds.empty:
        return []
    low, high = int(seeds.min()), int(seeds.max())
    count = f"{low}" if low == high else f"{low} to {high}"
    line = f"Seeds: {count} per case."
    if low < 2:
        line += (
            " With one seed an interval is the test set's Wilson interval alone: how much a retrained model "
            "would move is not measured."
        )
    return [line]


def epoch_caveats(ok: pd.DataFrame) -> list[str]:
    """Unequal epoch budgets among the cases a front compares (one device and dataset)."""
    if "epochs" not in ok or ok["epochs"].isna().all():
        return []
    lines = []
    for (device, dataset), rows in ok.groupby(["device_name", "dataset"], dropna=False):
        epochs = rows.groupby("case_id")["epochs"].median().dropna()
        if epochs.nunique() < 2:
            continue
        longest = ", ".join(f"{c} ({e:g})" for c, e in epochs[epochs == epochs.max()].head(3).items())
        lines.append(
            f"Unequal training budgets on {dataset} ({device}): {epochs.min():g} to {epochs.max():g} epochs "
            f"per case (longest: {longest}); a case may lead because it trained longer."
        )
    return lines


def source_caveats(ok: pd.DataFrame) -> list[str]:
    """How well each pretraining source did, with a warning where it is near chance for the source task."""
    if "source_accuracy" not in ok:
        return []
    transfer = ok.dropna(subset=["source_accuracy"])
    lines = []
    for weights, rows in transfer.groupby("weights"):
        accuracy = rows["source_accuracy"].median()
        line = f"Transfer rows with weights {weights}: source accuracy {100 * accuracy:.1f}% (median over rows)."
        if weights == GLYPHS:
            chance = 1 / len(GLYPH_CLASSES)
            line = line[:-1] + f"; chance on the {len(GLYPH_CLASSES)} letters is {100 * chance:.1f}%."
            if accuracy < NEAR_CHANCE * chance:
                line += " That is near chance: these backbones learned little, so transfer is not really tested."
        lines.append(line)
    return lines


def contention_caveats(ok: pd.DataFrame) -> list[str]:
    """Signs that the machine was shared while it measured: load, a low roof, one network timed apart."""
    lines = []
    if {"load_average", "cpu_count"} <= set(ok) and (ok["load_average"] > ok["cpu_count"]).any():
        busy = ok[ok["load_average"] > ok["cpu_count"]]
        lines.append(f"Load average above the core count for {len(busy)} row(s): latencies are inflated.")
    if {"peak_gflops", "theoretical_gflops"} <= set(ok):
        share = (ok["peak_gflops"] / ok["theoretical_gflops"]).dropna()
        if not share.empty and share.median() < BUSY_ROOF:
            lines.append(
                f"The measured matmul roof is {100 * share.median():.0f}% of the theoretical peak (median): "
                "the machine was likely busy."
            )
    apart = split_networks(ok)
    if apart:
        lines.append(
            "One network timed at clearly different speeds in different cases (p50 intervals that do not "
            f"overlap): {', '.join(apart[:4])}{' …' if len(apart) > 4 else ''}. The machine's load changed during "
            "the run: trust a case's own interval, not small differences between networks."
        )
    return lines


def split_networks(ok: pd.DataFrame) -> list[str]:
    """Networks whose rows' latency p50 intervals do not all overlap: ``name (low–high ms)``."""
    needed = {"latency_p50_ci_low_ms", "latency_p50_ci_high_ms", "arch", "device_name"}
    if not needed <= set(ok):
        return []
    size = ok["image_size"] if "image_size" in ok else pd.Series(pd.NA, index=ok.index)
    names = [network_label(a, s) for a, s in zip(ok["arch"], size)]
    split = []
    for (device, name), rows in ok.assign(network=names).groupby(["device_name", "network"]):
        low, high = rows["latency_p50_ci_low_ms"], rows["latency_p50_ci_high_ms"]
        if high.min() < low.max():
            split.append(f"{name} on {device.split(':')[0]} ({high.min():.3g}–{low.max():.3g} ms apart)")
    return split


def xla_caveats(ok: pd.DataFrame) -> list[str]:
    """Per network: the execution mode whose latency is reported, and the measured speed-up that chose it; the
    networks timed in graph mode only (a profile such as quick measures no XLA) are named apart."""
    if "xla" not in ok or ok["xla"].isna().all():
        return []
    size = ok["image_size"] if "image_size" in ok else pd.Series(pd.NA, index=ok.index)
    frame = ok.assign(network=[network_label(a, s) for a, s in zip(ok["arch"], size)])
    parts, graph_only = [], []
    for (device, name), rows in frame.dropna(subset=["xla"]).groupby(["device_name", "network"]):
        xla = rows["xla"].astype(str).str.lower().eq("true")  # untimed seeds chose no mode: left out
        speedup = rows["xla_speedup"].median() if "xla_speedup" in rows else float("nan")
        if pd.isna(speedup) and not xla.any():
            graph_only.append(f"{name} ({device.split(':')[0]})")
            continue
        mode = "XLA" if xla.mean() >= 0.5 else "graph"
        why = f"graph/XLA p50 = {speedup:.2f}" if pd.notna(speedup) else "no speed-up stored"
        mixed = f", XLA in {int(xla.sum())} of {len(rows)} rows" if 0 < xla.sum() < len(rows) else ""
        parts.append(f"{name} ({device.split(':')[0]}): {mode} ({why}{mixed})")
    lines = ["Execution mode chosen per network, the faster of graph and XLA at batch 1: " + "; ".join(parts) + "."]
    lines = lines if parts else []
    if graph_only:
        lines.append(f"Graph mode only, XLA not timed (the profile's measurement): {', '.join(graph_only)}.")
    return lines


def caveats(results: pd.DataFrame) -> list[str]:
    """Every caveat the ok rows of ``results`` support, in reading order."""
    ok = results[results["status"] == "ok"] if "status" in results else results
    if ok.empty:
        return ["No case finished ok: there is nothing to answer with."]
    found = []
    for rule in (seed_caveats, epoch_caveats, source_caveats, contention_caveats, xla_caveats):
        found += rule(ok)
    return found
