"""The report's tables, built with pandas from the summary (one row per case and device).

Each ``Table`` (``suite.report._format``) holds a numeric ``frame`` for the CSV and a ``display`` frame of text
for Markdown and HTML, where every test accuracy carries its 95% interval (``suite.report.intervals``).
Architecture x regime tables get one row per model; when a summary spans several datasets or devices, those
become leading columns, so values are never pooled across them. The paired tables are in ``suite.report.pairs``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from suite.environment import FINGERPRINT_FIELDS
from suite.regimes import FREEZE_SWEEP, REGIMES
from suite.report._format import (
    Table,
    accuracy_cells,
    accuracy_texts,
    arch_regime,
    empty_table,
    facets,
    millions,
    number,
    with_models,
)
from suite.report.front import latency_front
from suite.report.intervals import with_intervals
from suite.report.pairs import HUB_PREFIX, SUITE_VS_KERAS, hub_pairs, hub_table, paired_table, suite_vs_keras_table

__all__ = [
    "HUB_PREFIX",
    "SUITE_VS_KERAS",
    "Table",
    "build_tables",
    "hub_pairs",
    "hub_table",
    "number",
    "paired_table",
    "suite_vs_keras_table",
    "with_models",
]
ENVIRONMENT_FIELDS = (*FINGERPRINT_FIELDS, "device_name", "python_version", "suite_version", "git_commit", "hostname")

CASE_COLUMNS = [  # the cases table's CSV columns, where the summary has them
    "case_id",
    "arch",
    "regime",
    "dataset",
    "weights",
    "device_name",
    "seeds",
    "test_accuracy_mean",
    "test_accuracy_std",
    "test_accuracy_ci95",
    "test_images",
    "accuracy_low",
    "accuracy_high",
    "latency_p50_ms",
    "latency_p50_ci_low_ms",
    "latency_p50_ci_high_ms",
    "xla",
    "throughput_ips",
    "throughput_source",
    "throughput_best_block_ips",
    "throughput_batch",
    "params",
    "gflops_per_image",
    "train_seconds",
]


def case_table(summary: pd.DataFrame) -> Table:
    """Every ok case: accuracy over seeds with its interval, latency with its CI, throughput, size, cost."""
    title = "Cases"
    if summary.empty:
        return empty_table("cases", title, "No case finished ok.")
    summary = with_intervals(summary)
    frame = summary[[c for c in CASE_COLUMNS if c in summary]].sort_values(["dataset", "device_name", "arch", "regime"])
    display = pd.DataFrame(
        {
            "case": frame["case_id"],
            **({"device_name": frame["device_name"]} if "device_name" in facets(frame) else {}),
            "weights": frame["weights"],
            "seeds": frame["seeds"],
            "test accuracy % [95% CI]": accuracy_texts(frame),
            "latency p50 (ms)": [number(v, 3) for v in frame["latency_p50_ms"]],
            "p50 95% CI (ms)": [
                f"{number(lo, 3)} – {number(hi, 3)}" if pd.notna(lo) else ""
                for lo, hi in zip(frame["latency_p50_ci_low_ms"], frame["latency_p50_ci_high_ms"])
            ],
            "mode": ["" if pd.isna(x) else "XLA" if x else "graph" for x in frame["xla"]],
            "throughput (images/s)": throughput_texts(frame),
            "params": [millions(v) for v in frame["params"]],
            "GFLOPs/image": [number(v, 3) for v in frame["gflops_per_image"]],
            "train (s)": [number(v, 3) for v in frame["train_seconds"]],
        }
    )
    note = (
        "One row per case and device: test accuracy, mean over seeds with its 95% interval (the Wilson interval "
        "of the pooled test images, widened to the seeds' Student-t interval where there are two or more), "
        "batch-1 latency p50 with its 95% interval (median over seeds), and the throughput: LoadGen's Offline "
        "rate where the run served the network (serving.csv), else the best timed block of the batch sweep with "
        "its batch size."
    )
    return Table(
        name="cases", title=title, frame=frame.reset_index(drop=True), display=display.reset_index(drop=True), note=note
    )


def throughput_texts(frame: pd.DataFrame) -> list[str]:
    """``1,234 (Offline)`` where LoadGen served the case's network, else ``1,234 @ 32 (best block)``."""
    sources = frame["throughput_source"] if "throughput_source" in frame else pd.Series("", index=frame.index)
    texts = []
    for v, b, source in zip(frame["throughput_ips"], frame["throughput_batch"], sources):
        if source == "offline":
            texts.append(f"{number(v)} (Offline)")
        else:
            texts.append(f"{number(v)} @ {int(b)} (best block)" if pd.notna(v) and pd.notna(b) else number(v))
    return texts


def accuracy_pivot(summary: pd.DataFrame) -> Table:
    """Architecture x regime: test accuracy mean over seeds with its 95% interval (std and seeds in the CSV)."""
    title = "Test accuracy by architecture and regime"
    if summary.empty:
        return empty_table("accuracy_by_arch_regime", title, "No case finished ok.")
    mean, std, seeds = (arch_regime(summary, c) for c in ("test_accuracy_mean", "test_accuracy_std", "seeds"))
    frame = pd.concat({"mean": mean, "std": std, "seeds": seeds}, axis=1)
    frame.columns = [f"{regime}_{stat}" for stat, regime in frame.columns]
    frame = frame[[f"{r}_{s}" for r in mean.columns for s in ("mean", "std", "seeds")]].reset_index()
    text = accuracy_cells(summary).reindex(index=mean.index, columns=mean.columns).fillna("")
    usual = int(seeds.stack().mode().iloc[0])
    note = (
        f"Test accuracy in %, mean over seeds [95% interval] ({usual} seed(s) per cell; with one seed the "
        "interval is the test set's Wilson interval alone). Empty: the case did not run ok."
    )
    return Table(name="accuracy_by_arch_regime", title=title, frame=frame, display=text.reset_index(), note=note)


def speed_pivot(summary: pd.DataFrame, column: str, name: str, title: str, unit: str, note: str) -> Table:
    """Architecture x regime of one speed figure (the summary's median over seeds)."""
    if summary.empty or column not in summary:
        return empty_table(name, title, "No case finished ok.")
    values = arch_regime(summary, column)
    text = values.apply(lambda column: column.map(lambda v: number(v, 3)))  # DataFrame.map needs pandas 2.1
    return Table(
        name=name, title=f"{title} ({unit})", frame=values.reset_index(), display=text.reset_index(), note=note
    )


def freeze_depth_table(summary: pd.DataFrame) -> Table:
    """How test accuracy moves from ``frozen`` through ``freeze75/50/25`` to ``finetune``, per model."""
    title = "Freeze depth: test accuracy from all frozen to fine-tuned"
    name = "freeze_depth"
    sweep = summary[summary["regime"].isin(FREEZE_SWEEP)] if not summary.empty else summary
    if sweep.empty:
        return empty_table(name, title, "No transfer case (frozen, freezeN, finetune) finished ok.")
    mean, std, seeds = (arch_regime(sweep, c) for c in ("test_accuracy_mean", "test_accuracy_std", "seeds"))
    order = [r for r in FREEZE_SWEEP if r in mean.columns]
    mean, std, seeds = mean[order], std[order], seeds[order]
    keep = mean.notna().sum(axis=1) >= 2
    if not keep.any():
        return empty_table(name, title, "No model ran two or more of frozen, freeze75/50/25 and finetune.")
    mean, std, seeds = mean[keep], std[keep], seeds[keep]
    frame = pd.concat({"mean": mean, "std": std}, axis=1)
    frame.columns = [f"{regime}_{stat}" for stat, regime in frame.columns]
    frame = frame[[f"{r}_{s}" for r in order for s in ("mean", "std")]]
    change = mean.get("finetune", np.nan) - mean.get("frozen", np.nan)
    frame["finetune_minus_frozen_points"] = 100 * change
    cells = accuracy_cells(sweep).reindex(index=mean.index, columns=order).fillna("")
    text = pd.DataFrame(index=mean.index)
    for regime in order:
        text[f"{regime} ({REGIMES[regime].frozen_percent}% frozen)"] = cells[regime]
    text["finetune − frozen (points)"] = [f"{v:+.1f}" if pd.notna(v) else "" for v in 100 * change]
    note = (
        "Test accuracy in %, mean over seeds [95% interval], as more of the pretrained backbone is left to train "
        "(left: backbone frozen, only the head trains; right: everything fine-tuned). Models with two or more of "
        "these regimes."
    )
    return Table(name=name, title=title, frame=frame.reset_index(), display=text.reset_index(), note=note)


def front_table(summary: pd.DataFrame) -> Table:
    """Every case on the accuracy-against-latency plane: its network's latency band and whether it is on the front.

    The rule is ``suite.report.front``'s: ties in latency (overlapping network bands) are kept, not ranked.
    """
    title = "Accuracy-against-latency front"
    front = latency_front(summary) if not summary.empty else summary
    if front.empty:
        return empty_table("latency_front", title, "No ok case has both an accuracy and a latency p50.")
    columns = ["device_name", "dataset", "case_id", "network", "on_front", "test_accuracy_mean", "accuracy_low",
               "accuracy_high", "latency_p50_ms", "band_low_ms", "band_high_ms", "network_ms"]  # fmt: skip
    frame = front[columns].reset_index(drop=True)
    display = pd.DataFrame({"case": frame["case_id"], "network": frame["network"]})
    for column in facets(frame):
        display.insert(0, column, frame[column])
    display["on the front"] = ["yes" if on else "" for on in frame["on_front"]]
    display["test accuracy % [95% CI]"] = accuracy_texts(front.reset_index(drop=True))
    display["latency p50 (ms)"] = [number(v, 3) for v in frame["latency_p50_ms"]]
    display["network band (ms)"] = [
        f"{number(lo, 3)} – {number(hi, 3)}" for lo, hi in zip(frame["band_low_ms"], frame["band_high_ms"])
    ]
    note = (
        "Latency belongs to the network (architecture, input side, device), so a network's regimes share one band: "
        "the span of their p50 95% intervals. A case is off the front only if another is more accurate and either "
        "the same network or clearly faster (its band wholly below); overlapping bands are ties."
    )
    return Table(name="latency_front", title=title, frame=frame, display=display, note=note)


def failures_table(results: pd.DataFrame) -> Table:
    """Every row that did not finish ok, with its one-line error."""
    title = "Failed and skipped cases"
    failed = results[results["status"] != "ok"]
    if failed.empty:
        return empty_table("failures", title, "Every case finished ok.")
    columns = [c for c in ("case_id", "seed", "status", "error", "device_name", "finished_at") if c in failed]
    frame = failed[columns].sort_values(["case_id", "seed"]).reset_index(drop=True)
    note = "The full traceback of each is in `errors/<case_id>-s<seed>.txt`."
    return Table(name="failures", title=title, frame=frame, display=frame.fillna("").astype(str), note=note, wrap=True)


def environment_table(results: pd.DataFrame) -> Table:
    """The machine and software the rows were measured on: one column per fingerprint."""
    title = "Environment"
    if results.empty or "fingerprint" not in results:
        return empty_table("environment", title, "No rows.")
    columns = {}
    for fingerprint, rows in results.groupby("fingerprint", sort=True, dropna=False):
        values = {}
        for field_name in ENVIRONMENT_FIELDS:
            if field_name in rows:
                seen = [str(v) for v in rows[field_name].dropna().unique() if str(v) != ""]
                values[field_name] = "; ".join(sorted(seen))
        values["rows"] = str(len(rows))
        columns[f"fingerprint {fingerprint}"] = values
    frame = pd.DataFrame(columns).rename_axis("field").reset_index()
    note = (
        "The machine fingerprint hashes the fields from `cpu_model` to `threads`; rows from different fingerprints "
        "are only reported together with --force."
    )
    return Table(name="environment", title=title, frame=frame, display=frame.fillna(""), note=note)


def build_tables(results: pd.DataFrame, summary: pd.DataFrame) -> list[Table]:
    """Every table of the report, in the order the HTML shows them."""
    return [
        case_table(summary),
        accuracy_pivot(summary),
        speed_pivot(
            summary,
            "latency_p50_ms",
            "latency_p50_by_arch_regime",
            "Latency p50 at batch 1 by architecture and regime",
            "ms",
            "Median over seeds of each case's batch-1 latency p50 (the faster of graph and XLA). The regimes of one "
            "architecture are the same network measured again: their spread is measurement noise.",
        ),
        speed_pivot(
            summary,
            "throughput_ips",
            "throughput_by_arch_regime",
            "Throughput by architecture and regime",
            "images/s",
            "LoadGen's Offline rate where the run served the network (serving.csv), else the median over seeds of "
            "each case's best timed block of the batch sweep (either mode).",
        ),
        freeze_depth_table(summary),
        front_table(summary),
        suite_vs_keras_table(summary),
        hub_table(summary),
        failures_table(results),
        environment_table(results),
    ]
