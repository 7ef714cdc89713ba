"""Two architectures side by side, regime by regime: the suite's ResNet beside Keras', Keras beside TF-Hub."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from suite.report._format import Table, accuracy_texts, empty_table, facets, millions, number
from suite.report.summary import regime_order

SUITE_VS_KERAS = (("resnet_scratch", "resnet50"),)  # the suite's own ResNet beside keras.applications.ResNet50
HUB_PREFIX = "hub_"  # hub_<name> is the TF-Hub version of the Keras Applications architecture <name>


def hub_pairs(archs) -> list[tuple[str, str]]:
    """``(keras_arch, hub_arch)`` for every ``hub_<name>`` whose Keras Applications ``<name>`` is also present."""
    archs = set(archs)
    return sorted(
        (a[len(HUB_PREFIX) :], a) for a in archs if a.startswith(HUB_PREFIX) and a[len(HUB_PREFIX) :] in archs
    )


@dataclass(frozen=True, kw_only=True)
class Labels:
    """What a paired table says about itself: its file name, title and note, and the line it shows when no pair
    ran ok."""

    name: str
    title: str
    note: str
    missing: str


def paired_table(summary: pd.DataFrame, pairs, sides: tuple[str, str], labels: Labels) -> Table:
    """Two architectures side by side, regime by regime, where both ran ok: accuracy, latency, throughput, size.

    ``sides`` names the two columns' prefixes (``("keras", "hub")``); the delta is right minus left.
    """
    left_name, right_name = sides
    keys = [*facets(summary), "regime"] if not summary.empty else ["regime"]
    figures = ["test_accuracy_mean", "test_accuracy_std", "seeds", "test_images", "latency_p50_ms"]
    figures += ["throughput_ips", "params"]
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
        return empty_table(labels.name, labels.title, labels.missing)
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
        display[f"{side} accuracy % [95% CI]"] = accuracy_texts(frame, prefix=f"{side}_")
    display["Δ accuracy (points)"] = [f"{v:+.1f}" for v in frame["accuracy_delta_points"]]
    for side in sides:
        display[f"{side} latency p50 (ms)"] = [number(v, 3) for v in frame[f"{side}_latency_p50_ms"]]
    for side in sides:
        display[f"{side} throughput (images/s)"] = [number(v) for v in frame[f"{side}_throughput_ips"]]
    for side in sides:
        display[f"{side} params"] = [millions(v) for v in frame[f"{side}_params"]]
    return Table(
        name=labels.name,
        title=labels.title,
        frame=frame.reset_index(drop=True),
        display=display.reset_index(drop=True),
        note=labels.note,
    )


def suite_vs_keras_table(summary: pd.DataFrame) -> Table:
    """The suite's own ResNet (``resnet_scratch``) beside Keras' ``resnet50``, regime by regime."""
    return paired_table(
        summary,
        SUITE_VS_KERAS,
        ("suite", "keras"),
        Labels(
            name="resnet_suite_vs_keras",
            title="Self-built ResNet beside Keras ResNet50",
            note="The suite's CIFAR-style ResNet (`resnet_scratch`) against `keras.applications.ResNet50`, in each "
            "regime both ran; Δ is Keras minus suite.",
            missing="resnet_scratch and resnet50 did not both run ok in any regime here.",
        ),
    )


def hub_table(summary: pd.DataFrame) -> Table:
    """Keras Applications beside their TF-Hub versions (``hub_<name>``), where both ran."""
    pairs = hub_pairs(summary["arch"].unique()) if not summary.empty else []
    return paired_table(
        summary,
        pairs,
        ("keras", "hub"),
        Labels(
            name="keras_vs_hub",
            title="Keras Applications beside TF-Hub",
            note="The same network from `keras.applications` and from TF-Hub (`hub_<name>`), in each regime both "
            "ran; Δ is hub minus Keras.",
            missing="No architecture ran both as Keras Applications and as its TF-Hub version (`hub_<name>`) here.",
        ),
    )
