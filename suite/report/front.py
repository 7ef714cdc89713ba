"""The accuracy-against-latency front, with latency treated as a property of the network and ties kept.

Latency belongs to the network that runs (architecture, input side, device; the stored speed figures are all
float32), not to the regime that trained its weights: the regimes of one network are one network measured
again, so they share one latency band, the span of their p50 95% intervals, centred at the median of their p50s.
Two networks whose bands overlap are tied on latency, not ranked. A case is off the front only if another case
of the same device and dataset is more accurate by the paired test (``suite.stats``, through
``suite.report.intervals.difference``) and either clearly faster (its network's band lies wholly below this one's)
or the same network (same latency). The budget answer takes the measured p90s (the gate's figure), and the cases
the test cannot separate from its most accurate one are tied with it.
"""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd

from suite.report.intervals import difference, with_intervals

GROUP = ["device_name", "dataset"]  # a front never mixes devices or datasets
NETWORK = ["device_name", "dataset", "arch", "image_size"]
BUDGET_QUANTILES = (0.25, 0.5, 0.75)  # of the measured latency p90s: the budgets the headline answers for


def network_label(arch: str, image_size) -> str:
    """``resnet50 @ 32 px`` (the side is left out where it is unknown)."""
    return f"{arch} @ {int(image_size)} px" if pd.notna(image_size) else str(arch)


def with_networks(cases: pd.DataFrame) -> pd.DataFrame:
    """``cases`` (``per_case`` rows) with ``network``, its band ``band_low_ms``/``band_high_ms`` and ``network_ms``.

    Rows without a latency p50 are dropped; a case without a stored p50 interval spans its p50 alone.
    """
    needed = ["latency_p50_ms", "test_accuracy_mean"]
    frame = cases.dropna(subset=needed).copy() if set(needed) <= set(cases) else cases.iloc[0:0].copy()
    if frame.empty:
        return frame.assign(network="", band_low_ms=0.0, band_high_ms=0.0, network_ms=0.0)
    frame["image_size"] = frame["image_size"] if "image_size" in frame else pd.NA
    for side in ("low", "high"):
        column = f"latency_p50_ci_{side}_ms"
        stored = frame[column] if column in frame else pd.Series(float("nan"), index=frame.index)
        frame[f"_{side}"] = stored.fillna(frame["latency_p50_ms"])
    frame["network"] = [network_label(a, s) for a, s in zip(frame["arch"], frame["image_size"])]
    grouped = frame.groupby([*GROUP, "network"], dropna=False)
    frame["band_low_ms"] = grouped["_low"].transform("min")
    frame["band_high_ms"] = grouped["_high"].transform("max")
    frame["network_ms"] = grouped["latency_p50_ms"].transform("median")
    return frame.drop(columns=["_low", "_high"])


def _beaten(row: pd.Series, peers: pd.DataFrame) -> bool:
    """Whether a peer that is clearly faster than ``row`` (or the same network) is more accurate by the paired
    test (``suite.report.intervals.difference``); a peer the test can't separate from ``row`` is a tie."""
    faster = (peers["band_high_ms"] < row["band_low_ms"]) | (peers["network"] == row["network"])
    candidates = peers[faster & (peers.index != row.name)]
    return any(difference(peer, row).verdict == "higher" for _, peer in candidates.iterrows())


def latency_front(cases: pd.DataFrame) -> pd.DataFrame:
    """Every case with its network, latency band, accuracy interval and ``on_front`` (see the module docstring).

    Sorted by device, dataset and the network's latency.
    """
    frame = with_intervals(with_networks(cases))
    if frame.empty:
        return frame.assign(on_front=pd.Series(dtype=bool))
    flags = pd.Series(False, index=frame.index)
    for _, peers in frame.groupby(GROUP, dropna=False):
        for index, row in peers.iterrows():
            flags[index] = not _beaten(row, peers)
    frame["on_front"] = flags
    return frame.sort_values([*GROUP, "network_ms", "test_accuracy_mean"], ascending=[True, True, True, False])


def budget_quantiles(p90s: pd.Series) -> list[float]:
    """The ``BUDGET_QUANTILES`` of the measured p90s, rounded to 2 significant figures, without repeats."""
    values = p90s.dropna()
    if values.empty:
        return []
    return sorted({float(f"{values.quantile(q):.2g}") for q in BUDGET_QUANTILES})


def best_under_budgets(cases: pd.DataFrame, budgets: dict | None = None) -> pd.DataFrame:
    """For each device, dataset and budget: the most accurate case whose latency p90 is within the budget.

    ``cases`` needs ``latency_p90_ms`` (``per_case`` has it; so has ``deployed.per_format``, whose rows are a
    case x format each). ``budgets`` (``{(device_name, dataset): [ms, ...]}``) replaces the quartiles of the
    measured p90s, so that two runs can be asked the same budgets (``suite.report.flips``). ``tied`` counts (and
    ``tied_with`` names) the other rows within the budget that the paired test cannot place below the most
    accurate one; ``crowned`` is whether the report may name that one alone.
    """
    rows = []
    if "latency_p90_ms" not in cases or cases.empty:
        return pd.DataFrame()
    frame = with_intervals(cases.dropna(subset=["latency_p90_ms", "test_accuracy_mean"]))
    for (device, dataset), group in frame.groupby(GROUP, dropna=False):
        chosen = budgets.get((device, dataset), []) if budgets is not None else None
        for budget in budget_quantiles(group["latency_p90_ms"]) if chosen is None else chosen:
            within = group[group["latency_p90_ms"] <= budget]
            if within.empty:
                continue
            best = within.loc[within["test_accuracy_mean"].idxmax()]
            others = within.drop(index=best.name)
            tied = [_name(o) for _, o in others.iterrows() if difference(best, o).verdict != "higher"]
            rows.append({**best.to_dict(), "device_name": device, "dataset": dataset, "budget_ms": budget})
            rows[-1].update(tied=len(tied), tied_with=tuple(tied), crowned=crowned(best) and not tied)
    return pd.DataFrame(rows)


def _name(row: pd.Series) -> str:
    """``case_id``, with its deployed format in brackets where the row is one (``deployed.per_format``)."""
    fmt = row.get("format")
    return f"{row['case_id']} ({fmt})" if isinstance(fmt, str) and fmt else str(row["case_id"])


def winner_text(best: pd.Series) -> str:
    """The budget's answer in words: the case alone where it is crowned; ``tied: a, b`` where the paired test can't
    separate it from others (no single winner is named); ``a (one seed: not crowned)`` otherwise."""
    if best["tied"]:
        return "tied: " + ", ".join([_name(best), *best["tied_with"]])
    if not best["crowned"]:
        return f"{_name(best)} (one seed: not crowned)"
    return _name(best)


def crowned(row: pd.Series) -> bool:
    """Whether the report may name ``row`` the single winner: its interval includes training variance (two seeds
    or more); a one-seed row is shown, never crowned, as its interval leaves out what another seed would change."""
    return bool(pd.notna(row.get("seeds")) and row.get("seeds", 1) >= 2)


def budget_columns(best: pd.DataFrame, figure: Callable[[float], str]) -> dict[str, object]:
    """The columns every budget answer (``best_under_budgets`` as text) starts with: device, dataset, budget."""
    return {
        "device": best["device_name"],
        "dataset": best["dataset"],
        "p90 budget (ms)": [f"≤ {figure(b)}" for b in best["budget_ms"]],
    }
