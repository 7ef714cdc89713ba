"""The accuracy-against-latency front, with latency treated as a property of the network and ties kept.

Latency belongs to the network that runs (architecture, input side, device; the stored speed figures are all
float32), not to the regime that trained its weights: the regimes of one network are one network measured
again, so they share one latency band, the span of their p50 95% intervals, centred at the median of their p50s.
Two networks whose bands overlap are tied on latency, not ranked. A case is off the front only if another case
of the same device and dataset is more accurate by the paired test (``suite.stats``, through
``suite.report.intervals.difference``) and either clearly faster (its network's band lies wholly below this one's)
or the same network (same latency).

The budget answer asks the user's budgets (``budgets.json``, from ``--budgets`` or the profile), else a fixed
1-2-5 ladder over the measured range, so that two runs are asked the same question. A case is within a budget when
its p90's 95% interval lies wholly at or below it (the point p90 where a row has no interval); a case whose
interval straddles the budget is named at the edge rather than dropped. The cases the paired test cannot separate
from the most accurate one within are tied with it.
"""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd

from suite.report.intervals import difference, with_intervals
from suite.stats import drift_half, narrow

GROUP = ["device_name", "dataset"]  # a front never mixes devices or datasets
NETWORK = ["device_name", "dataset", "arch", "image_size"]
BUDGET_LADDER = (1.0, 2.0, 5.0)  # x 10^k ms: the default budgets, from the fastest case's p90 to the slowest's


def network_label(arch: str, image_size) -> str:
    """``resnet50 @ 32 px`` (the side is left out where it is unknown)."""
    return f"{arch} @ {int(image_size)} px" if pd.notna(image_size) else str(arch)


def with_networks(cases: pd.DataFrame) -> pd.DataFrame:
    """``cases`` (``per_case`` rows) with ``network``, its band ``band_low_ms``/``band_high_ms`` and ``network_ms``.

    Rows without a latency p50 are dropped; a case without a stored p50 interval spans its p50 alone. The band
    compares networks, so a lap's figure spans its interval without the machine's drift (``drift_sd``), which every
    entry of one lap shares; the row's own interval keeps it, as a rerun would see it.
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
    if "drift_sd" in frame:  # the lap's figures share the machine's drift: comparing them takes it out
        drift = pd.to_numeric(frame["drift_sd"], errors="coerce").fillna(0.0)  # an old lap.csv has none
        moments = [
            narrow(p50, low, high, drift_half(sd))
            for p50, low, high, sd in zip(frame["latency_p50_ms"], frame["_low"], frame["_high"], drift)
        ]
        frame["_low"], frame["_high"] = [m[0] for m in moments], [m[1] for m in moments]
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


def budget_ladder(p90s: pd.Series) -> list[float]:
    """The ``BUDGET_LADDER`` values (1, 2, 5 x 10^k ms) from the first that a measured p90 fits within to the first
    that every one does: the same budgets for any two runs whose p90s span the same range."""
    values = p90s.dropna()
    values = values[values > 0]
    if values.empty:
        return []
    ladder = [step * 10.0**power for power in range(-3, 7) for step in BUDGET_LADDER]
    low = next(v for v in ladder if v >= values.min())
    high = next((v for v in ladder if v >= values.max()), ladder[-1])
    return [round(v, 6) for v in ladder if low <= v <= high]


def p90_bounds(frame: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """Each row's p90 95% interval (``latency_p90_ci_low_ms``/``_high_ms``), the point p90 where it has none."""
    point = frame["latency_p90_ms"]
    bounds = [
        frame[c].fillna(point) if c in frame else point for c in ("latency_p90_ci_low_ms", "latency_p90_ci_high_ms")
    ]
    return bounds[0], bounds[1]


def group_budgets(budgets, key: tuple, p90s: pd.Series) -> list[float]:
    """The budgets one device and dataset is asked: ``budgets`` as given (a list for every group, or a
    ``{(device_name, dataset): [ms, ...]}``), else the ladder over its p90s."""
    if budgets is None:
        return budget_ladder(p90s)
    return list(budgets.get(key, [])) if isinstance(budgets, dict) else sorted(budgets)


def best_under_budgets(cases: pd.DataFrame, budgets=None) -> pd.DataFrame:
    """For each device, dataset and budget: the most accurate case whose latency p90 is within the budget.

    ``cases`` needs ``latency_p90_ms`` (``per_case`` has it; so has ``deployed.per_format``, whose rows are a
    case x format each). ``budgets``: see ``group_budgets``. ``tied`` counts (and ``tied_with`` names) the other
    rows within the budget that the paired test cannot place below the most accurate one; ``at_edge`` names the
    rows whose p90 interval straddles the budget and that the test cannot place below it either; ``crowned`` is
    whether the report may name that one alone. Where no row is wholly within, the most accurate at the edge
    answers, with ``edge`` set.
    """
    if "latency_p90_ms" not in cases or cases.empty:
        return pd.DataFrame()
    frame = with_intervals(cases.dropna(subset=["latency_p90_ms", "test_accuracy_mean"]))
    low, high = p90_bounds(frame)
    rows = []
    for key, group in frame.groupby(GROUP, dropna=False):
        for budget in group_budgets(budgets, key, group["latency_p90_ms"]):
            within = group[high[group.index] <= budget]
            straddling = group[(low[group.index] <= budget) & (high[group.index] > budget)]
            pool = within if len(within) else straddling
            if pool.empty:
                continue
            best = pool.loc[pool["test_accuracy_mean"].idxmax()]
            unbeaten = [
                _name(o) for _, o in pool.drop(index=best.name).iterrows() if difference(best, o).verdict != "higher"
            ]
            edge = [] if pool is straddling else [
                _name(o) for _, o in straddling.iterrows() if difference(best, o).verdict != "higher"
            ]  # fmt: skip
            rows.append({**best.to_dict(), "device_name": key[0], "dataset": key[1], "budget_ms": budget})
            rows[-1].update(tied=len(unbeaten), tied_with=tuple(unbeaten), at_edge=tuple(edge), edge=pool is straddling)
            rows[-1]["crowned"] = crowned(best) and not unbeaten and not edge and pool is within
    return pd.DataFrame(rows)


def _name(row: pd.Series) -> str:
    """``case_id``, with its deployed format in brackets where the row is one (``deployed.per_format``)."""
    fmt = row.get("format")
    return f"{row['case_id']} ({fmt})" if isinstance(fmt, str) and fmt else str(row["case_id"])


def winner_text(best: pd.Series) -> str:
    """The budget's answer in words: the case alone where it is crowned; ``tied: a, b`` where the paired test can't
    separate it from others (no single winner is named); ``a (one seed: not crowned)`` for one seed; then the
    cases whose p90 interval straddles the budget (``at the edge: c``), or that the answer itself straddles it."""
    if best["tied"]:
        text = "tied: " + ", ".join([_name(best), *best["tied_with"]])
    elif not crowned(best):
        text = f"{_name(best)} (one seed: not crowned)"
    else:
        text = _name(best)
    if bool(best.get("edge", False)):
        return f"{text} (its p90 interval straddles the budget; none lies wholly within)"
    edge = best.get("at_edge", ())
    return f"{text}; at the edge (p90 interval straddles the budget): {', '.join(edge)}" if len(edge) else text


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
