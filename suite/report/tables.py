"""The report's tables, built with pandas from the summary (one row per case and device).

Each ``Table`` holds a numeric ``frame`` (what the CSV gets, fractions and plain
units as in ``results.csv``) and a ``display`` frame of formatted text (what the
Markdown file and the HTML report show: percentages, ``mean ± std``).
Architecture x regime tables get one row per model; when a summary spans several
datasets or devices, those become leading columns, so values are never pooled
across them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from suite.environment import FINGERPRINT_FIELDS
from suite.regimes import FREEZE_SWEEP, REGIMES
from suite.report.summary import model_label, regime_order

SUITE_VS_KERAS = (("resnet_scratch", "resnet50"),)  # the suite's own ResNet beside keras.applications.ResNet50
HUB_PREFIX = "hub_"  # hub_<name> is the TF-Hub version of the Keras Applications architecture <name>
ENVIRONMENT_FIELDS = (*FINGERPRINT_FIELDS, "device_name", "python_version", "suite_version", "git_commit", "hostname")


@dataclass
class Table:
    """One table of the report: numbers for the CSV, formatted text for Markdown and HTML."""

    name: str  # file stem under tables/
    title: str
    frame: pd.DataFrame
    display: pd.DataFrame
    note: str = ""  # how to read it, or why it is empty
    wrap: bool = False  # long text cells (errors) wrap on the page instead of running wide

    def to_markdown(self) -> str:
        # The display cells are already text ("+2.3", "1,234"): numparse would drop signs and separators.
        shown = self.display.rename(columns={"device_name": "device"})
        body = shown.to_markdown(index=False, disable_numparse=True) if not shown.empty else "_(empty)_"
        return f"## {self.title}\n\n{self.note + chr(10) + chr(10) if self.note else ''}{body}\n"

    def write(self, folder: Path) -> list[Path]:
        """``folder/<name>.csv`` and ``folder/<name>.md``."""
        folder.mkdir(parents=True, exist_ok=True)
        csv_path, md_path = folder / f"{self.name}.csv", folder / f"{self.name}.md"
        self.frame.to_csv(csv_path, index=False)
        md_path.write_text(self.to_markdown())
        return [csv_path, md_path]


# Formatting: text for people; the CSV keeps the numbers.


def percent(mean, std=None, seeds=None) -> str:
    """``91.2 ± 1.0`` (test accuracy in %, ± the seed std where there are two seeds or more)."""
    if mean is None or pd.isna(mean):
        return ""
    if std is None or pd.isna(std) or seeds is None or pd.isna(seeds) or seeds < 2:
        return f"{100 * mean:.1f}"
    return f"{100 * mean:.1f} ± {100 * std:.1f}"


def number(value, digits: int = 2, unit: str = "") -> str:
    """A figure with ``digits`` significant decimals for small values, thousands separators for large ones."""
    if value is None or pd.isna(value):
        return ""
    text = f"{value:,.0f}" if abs(value) >= 100 else f"{value:.{digits}g}" if value else "0"
    return f"{text} {unit}".strip()


def millions(value) -> str:
    return "" if value is None or pd.isna(value) else f"{value / 1e6:.2f} M"


def facets(summary: pd.DataFrame) -> list[str]:
    """``dataset`` and ``device_name`` where the summary holds more than one of them: the columns kept apart."""
    return [c for c in ("dataset", "device_name") if c in summary and summary[c].nunique(dropna=False) > 1]


def with_models(summary: pd.DataFrame) -> pd.DataFrame:
    """The summary with a ``model`` column: the row name in architecture x regime tables.

    Two summary rows that would share a cell (the same case with other weights) get the weights in the name.
    """
    frame = summary.copy()
    labels = [model_label(c, a, r) for c, a, r in zip(frame["case_id"], frame["arch"], frame["regime"])]
    frame["model"] = pd.Series(labels, index=frame.index, dtype=object)
    clash = frame.duplicated([*facets(frame), "model", "regime"], keep=False)
    if clash.any():
        frame.loc[clash, "model"] = frame.loc[clash, "model"] + " [" + frame.loc[clash, "weights"].astype(str) + "]"
    return frame


def _empty(name: str, title: str, note: str) -> Table:
    return Table(name, title, pd.DataFrame(), pd.DataFrame(), note)


# The tables.


def case_table(summary: pd.DataFrame) -> Table:
    """Every ok case: accuracy over seeds with its interval, latency with its CI, throughput, size, cost."""
    title = "Cases"
    if summary.empty:
        return _empty("cases", title, "No case finished ok.")
    columns = [
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
        "latency_p50_ms",
        "latency_p50_ci_low_ms",
        "latency_p50_ci_high_ms",
        "xla",
        "throughput_ips",
        "throughput_batch",
        "params",
        "gflops_per_image",
        "train_seconds",
    ]
    frame = summary[[c for c in columns if c in summary]].sort_values(["dataset", "device_name", "arch", "regime"])
    display = pd.DataFrame(
        {
            "case": frame["case_id"],
            **({"device_name": frame["device_name"]} if "device_name" in facets(frame) else {}),
            "weights": frame["weights"],
            "seeds": frame["seeds"],
            "test accuracy (%)": [
                percent(m, s, n)
                for m, s, n in zip(frame["test_accuracy_mean"], frame["test_accuracy_std"], frame["seeds"])
            ],
            "95% CI (± points)": [number(100 * v, 2) for v in frame["test_accuracy_ci95"]],
            "latency p50 (ms)": [number(v, 3) for v in frame["latency_p50_ms"]],
            "p50 95% CI (ms)": [
                f"{number(lo, 3)} – {number(hi, 3)}" if pd.notna(lo) else ""
                for lo, hi in zip(frame["latency_p50_ci_low_ms"], frame["latency_p50_ci_high_ms"])
            ],
            "mode": ["" if pd.isna(x) else "XLA" if x else "graph" for x in frame["xla"]],
            "throughput (images/s)": [
                f"{number(v)} @ {int(b)}" if pd.notna(v) and pd.notna(b) else number(v)
                for v, b in zip(frame["throughput_ips"], frame["throughput_batch"])
            ],
            "params": [millions(v) for v in frame["params"]],
            "GFLOPs/image": [number(v, 3) for v in frame["gflops_per_image"]],
            "train (s)": [number(v, 3) for v in frame["train_seconds"]],
        }
    )
    note = (
        "One row per case and device: test accuracy mean ± standard deviation over seeds, the half-width of its "
        "Student-t 95% interval, batch-1 latency p50 with its 95% interval (median over seeds), and the "
        "best throughput of the batch sweep with its batch size."
    )
    return Table("cases", title, frame.reset_index(drop=True), display.reset_index(drop=True), note)


def arch_regime(summary: pd.DataFrame, column: str) -> pd.DataFrame:
    """Rows: model (with any facets); columns: regimes in study order; cells: ``column`` of the summary."""
    frame = with_models(summary)
    index = [*facets(frame), "model"]
    pivot = frame.pivot_table(index=index, columns="regime", values=column, aggfunc="first", dropna=False)
    pivot = pivot.reindex(columns=regime_order(frame["regime"].unique()))
    pivot.columns.name = None
    return pivot.dropna(how="all")


def accuracy_pivot(summary: pd.DataFrame) -> Table:
    """Architecture x regime: test accuracy mean ± std over seeds."""
    title = "Test accuracy by architecture and regime"
    if summary.empty:
        return _empty("accuracy_by_arch_regime", title, "No case finished ok.")
    mean, std, seeds = (arch_regime(summary, c) for c in ("test_accuracy_mean", "test_accuracy_std", "seeds"))
    frame = pd.concat({"mean": mean, "std": std, "seeds": seeds}, axis=1)
    frame.columns = [f"{regime}_{stat}" for stat, regime in frame.columns]
    frame = frame[[f"{r}_{s}" for r in mean.columns for s in ("mean", "std", "seeds")]].reset_index()
    text = mean.copy().astype(object)
    for regime in mean.columns:
        text[regime] = [percent(m, s, n) for m, s, n in zip(mean[regime], std[regime], seeds[regime])]
    usual = int(seeds.stack().mode().iloc[0])
    note = (
        f"Test accuracy in %, mean ± standard deviation over seeds ({usual} seed(s) per cell; a cell without ± "
        "had one). Empty: the case did not run ok."
    )
    return Table("accuracy_by_arch_regime", title, frame, text.reset_index(), note)


def speed_pivot(summary: pd.DataFrame, column: str, name: str, title: str, unit: str, note: str) -> Table:
    """Architecture x regime of one speed figure (the summary's median over seeds)."""
    if summary.empty or column not in summary:
        return _empty(name, title, "No case finished ok.")
    values = arch_regime(summary, column)
    text = values.apply(lambda column: column.map(lambda v: number(v, 3)))  # DataFrame.map needs pandas 2.1
    return Table(name, f"{title} ({unit})", values.reset_index(), text.reset_index(), note)


def freeze_depth_table(summary: pd.DataFrame) -> Table:
    """How test accuracy moves from ``frozen`` through ``freeze75/50/25`` to ``finetune``, per model."""
    title = "Freeze depth: test accuracy from all frozen to fine-tuned"
    name = "freeze_depth"
    sweep = summary[summary["regime"].isin(FREEZE_SWEEP)] if not summary.empty else summary
    if sweep.empty:
        return _empty(name, title, "No transfer case (frozen, freezeN, finetune) finished ok.")
    mean, std, seeds = (arch_regime(sweep, c) for c in ("test_accuracy_mean", "test_accuracy_std", "seeds"))
    order = [r for r in FREEZE_SWEEP if r in mean.columns]
    mean, std, seeds = mean[order], std[order], seeds[order]
    keep = mean.notna().sum(axis=1) >= 2
    if not keep.any():
        return _empty(name, title, "No model ran two or more of frozen, freeze75/50/25 and finetune.")
    mean, std, seeds = mean[keep], std[keep], seeds[keep]
    frame = pd.concat({"mean": mean, "std": std}, axis=1)
    frame.columns = [f"{regime}_{stat}" for stat, regime in frame.columns]
    frame = frame[[f"{r}_{s}" for r in order for s in ("mean", "std")]]
    change = mean.get("finetune", np.nan) - mean.get("frozen", np.nan)
    frame["finetune_minus_frozen_points"] = 100 * change
    text = pd.DataFrame(index=mean.index)
    for regime in order:
        text[f"{regime} ({REGIMES[regime].frozen_percent}% frozen)"] = [
            percent(m, s, n) for m, s, n in zip(mean[regime], std[regime], seeds[regime])
        ]
    text["finetune − frozen (points)"] = [f"{v:+.1f}" if pd.notna(v) else "" for v in 100 * change]
    note = (
        "Test accuracy in %, mean ± std over seeds, as more of the pretrained backbone is left to train "
        "(left: backbone frozen, only the head trains; right: everything fine-tuned). Models with two or more of "
        "these regimes."
    )
    return Table(name, title, frame.reset_index(), text.reset_index(), note)


def hub_pairs(archs) -> list[tuple[str, str]]:
    """``(keras_arch, hub_arch)`` for every ``hub_<name>`` whose Keras Applications ``<name>`` is also present."""
    archs = set(archs)
    return sorted(
        (a[len(HUB_PREFIX) :], a) for a in archs if a.startswith(HUB_PREFIX) and a[len(HUB_PREFIX) :] in archs
    )


def paired_table(
    summary: pd.DataFrame, pairs, sides: tuple[str, str], name: str, title: str, note: str, missing: str
) -> Table:
    """Two architectures side by side, regime by regime, where both ran ok: accuracy, latency, throughput, size.

    ``sides`` names the two columns' prefixes (``("keras", "hub")``); the delta is right minus left.
    """
    left_name, right_name = sides
    keys = [*facets(summary), "regime"] if not summary.empty else ["regime"]
    figures = ["test_accuracy_mean", "test_accuracy_std", "seeds", "latency_p50_ms", "throughput_ips", "params"]
    blocks = []
    for left, right in pairs:
        if summary.empty:
            break
        a = summary[summary["arch"] == left].set_index(keys)[figures]
        b = summary[summary["arch"] == right].set_index(keys)[figures]
        a = a[~a.index.duplicated()]
        b = b[~b.index.duplicated()]
        both = a.join(b, how="inner", lsuffix=f"__{left_name}", rsuffix=f"__{right_name}")
        if both.empty:
            continue
        both.columns = [f"{side}_{figure}" for figure, side in (c.split("__") for c in both.columns)]
        both.insert(0, f"{right_name}_arch", right)
        both.insert(0, f"{left_name}_arch", left)
        blocks.append(both.reset_index())
    if not blocks:
        return _empty(name, title, missing)
    frame = pd.concat(blocks, ignore_index=True)
    order = {r: i for i, r in enumerate(regime_order(frame["regime"].unique()))}
    frame = frame.sort_values([f"{left_name}_arch", "regime"], key=lambda c: c.map(order) if c.name == "regime" else c)
    frame["accuracy_delta_points"] = 100 * (
        frame[f"{right_name}_test_accuracy_mean"] - frame[f"{left_name}_test_accuracy_mean"]
    )
    display = pd.DataFrame({c: frame[c] for c in [*facets(summary), "regime"] if c in frame})
    for side in sides:
        display[side] = frame[f"{side}_arch"]
    for side in sides:
        display[f"{side} accuracy (%)"] = [
            percent(m, s, n)
            for m, s, n in zip(
                frame[f"{side}_test_accuracy_mean"], frame[f"{side}_test_accuracy_std"], frame[f"{side}_seeds"]
            )
        ]
    display["Δ accuracy (points)"] = [f"{v:+.1f}" for v in frame["accuracy_delta_points"]]
    for side in sides:
        display[f"{side} latency p50 (ms)"] = [number(v, 3) for v in frame[f"{side}_latency_p50_ms"]]
    for side in sides:
        display[f"{side} throughput (images/s)"] = [number(v) for v in frame[f"{side}_throughput_ips"]]
    for side in sides:
        display[f"{side} params"] = [millions(v) for v in frame[f"{side}_params"]]
    return Table(name, title, frame.reset_index(drop=True), display.reset_index(drop=True), note)


def suite_vs_keras_table(summary: pd.DataFrame) -> Table:
    """The suite's own ResNet (``resnet_scratch``) beside Keras' ``resnet50``, regime by regime."""
    return paired_table(
        summary,
        SUITE_VS_KERAS,
        ("suite", "keras"),
        "resnet_suite_vs_keras",
        "Self-built ResNet beside Keras ResNet50",
        "The suite's CIFAR-style ResNet (`resnet_scratch`) against `keras.applications.ResNet50`, in each regime "
        "both ran; Δ is Keras minus suite.",
        "resnet_scratch and resnet50 did not both run ok in any regime here.",
    )


def hub_table(summary: pd.DataFrame) -> Table:
    """Keras Applications beside their TF-Hub versions (``hub_<name>``), where both ran."""
    pairs = hub_pairs(summary["arch"].unique()) if not summary.empty else []
    return paired_table(
        summary,
        pairs,
        ("keras", "hub"),
        "keras_vs_hub",
        "Keras Applications beside TF-Hub",
        "The same network from `keras.applications` and from TF-Hub (`hub_<name>`), in each regime both ran; "
        "Δ is hub minus Keras.",
        "No architecture ran both as Keras Applications and as its TF-Hub version (`hub_<name>`) here.",
    )


def failures_table(results: pd.DataFrame) -> Table:
    """Every row that did not finish ok, with its one-line error."""
    title = "Failed and skipped cases"
    failed = results[results["status"] != "ok"]
    if failed.empty:
        return _empty("failures", title, "Every case finished ok.")
    columns = [c for c in ("case_id", "seed", "status", "error", "device_name", "finished_at") if c in failed]
    frame = failed[columns].sort_values(["case_id", "seed"]).reset_index(drop=True)
    note = "The full traceback of each is in `errors/<case_id>-s<seed>.txt`."
    return Table("failures", title, frame, frame.fillna("").astype(str), note, wrap=True)


def environment_table(results: pd.DataFrame) -> Table:
    """The machine and software the rows were measured on: one column per fingerprint."""
    title = "Environment"
    if results.empty or "fingerprint" not in results:
        return _empty("environment", title, "No rows.")
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
    return Table("environment", title, frame, frame.fillna(""), note)


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
            "Best throughput by architecture and regime",
            "images/s",
            "Median over seeds of each case's best point of the batch sweep (either mode).",
        ),
        freeze_depth_table(summary),
        suite_vs_keras_table(summary),
        hub_table(summary),
        failures_table(results),
        environment_table(results),
    ]
