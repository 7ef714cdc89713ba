"""From rows to one summary row per case: the statistics every table and chart starts from.

A case measured on two devices is two summary rows (``device_name`` is part of
the key): its accuracy and speed were produced there, and never averaged across.
"""

from __future__ import annotations

import pandas as pd

from suite.case import split_size
from suite.regimes import REGIMES
from suite.stats import seed_half_from_std
from suite.storage import OUTCOME, by_seed

SUMMARY_KEYS = ["case_id", "arch", "regime", "dataset", "weights", "device", "device_name"]
MATCH_KEYS = ["case_id", "device"]  # what two runs are matched on (compare, gate): a case on one device


def _mode_flag(column: pd.Series):
    """The most common value of a boolean column, or None where it is empty."""
    return bool(column.dropna().mode().iloc[0]) if column.notna().any() else None


# Each figure of a case: the row column it comes from and how its seeds combine, in summary.csv's column order.
PER_CASE = {
    "seeds": ("seed", "nunique"),
    "test_accuracy_mean": ("test_accuracy", "mean"),
    "test_accuracy_std": ("test_accuracy", "std"),
    "test_images": ("test_images", "median"),
    "latency_p50_ms": ("latency_p50_ms", "median"),
    "latency_p50_ci_low_ms": ("latency_p50_ci_low_ms", "median"),
    "latency_p50_ci_high_ms": ("latency_p50_ci_high_ms", "median"),
    "latency_p99_ms": ("latency_p99_ms", "median"),
    "xla": ("xla", _mode_flag),
    "throughput_ips": ("throughput_ips", "median"),
    "throughput_batch": ("throughput_batch", "first"),
    "params": ("params", "first"),
    "gflops_per_image": ("gflops_per_image", "first"),
    "image_size": ("image_size", "first"),
    "train_seconds": ("train_seconds", "mean"),
    "time_to_target_s": ("time_to_target_s", "median"),
    "latency_p90_ms": ("latency_p90_ms", "median"),  # the gate's and the budgets' figure
    "latency_p90_ci_low_ms": ("latency_p90_ci_low_ms", "median"),  # whether a case is within a budget
    "latency_p90_ci_high_ms": ("latency_p90_ci_high_ms", "median"),
}
NOT_SUMMARISED = [
    "latency_p90_ms",
    "latency_p90_ci_low_ms",
    "latency_p90_ci_high_ms",
    "outcomes",
]  # per_case figures summary.csv leaves out (its columns are documented)


def t_interval(std: pd.Series, n: pd.Series) -> pd.Series:
    """Half-width of the Student-t 95% interval of a seed mean (NaN for one seed): ``suite.stats``' training part."""
    return pd.Series([seed_half_from_std(s, k) for s, k in zip(std, n)], index=std.index, dtype=float)


def per_case(results: pd.DataFrame, keys: list[str] = SUMMARY_KEYS) -> pd.DataFrame:
    """One row per ``ok`` case and device (``keys``) with every ``PER_CASE`` figure over its seeds.

    The one aggregation of rows that ``summarise``, ``compare`` and the gate share, so none of them pools what
    another keeps apart. Accuracy: mean, std (0 for one seed), n and the half-width of its 95% interval; speed:
    medians. Rows with an empty key column (a hand-edited row without ``weights``) are kept, not dropped by the
    grouping; a figure column the frame lacks gives an empty column.
    """
    ok = results[results["status"] == "ok"]
    needed = {column for column, _ in PER_CASE.values()}
    ok = ok.reindex(columns=[*ok.columns, *sorted(needed - set(ok.columns))])
    keys = [k for k in keys if k in ok]
    if ok.empty:
        return pd.DataFrame(columns=[*keys, "seeds", "test_accuracy_mean", "test_accuracy_std", "test_accuracy_ci95"])
    figures = {**PER_CASE, "outcomes": (OUTCOME, by_seed)} if OUTCOME in ok else PER_CASE
    cases = ok.groupby(keys, sort=True, dropna=False).agg(**figures).reset_index()
    cases["test_accuracy_ci95"] = t_interval(cases["test_accuracy_std"], cases["seeds"])
    cases["test_accuracy_std"] = cases["test_accuracy_std"].fillna(0.0)
    return cases


def summarise(results: pd.DataFrame) -> pd.DataFrame:
    """``summary.csv``: ``per_case`` without the figures only the gate reads."""
    cases = per_case(results)
    return cases.drop(columns=[c for c in NOT_SUMMARISED if c in cases])


def by_case_and_device(cases: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """``columns`` of ``per_case`` rows indexed by ``MATCH_KEYS``, for setting two runs side by side.

    A case and device with several rows (other weights) keeps the first; a missing device is "".
    """
    cases = cases.assign(device=cases["device"].fillna("")) if "device" in cases else cases.assign(device="")
    return cases.drop_duplicates(MATCH_KEYS).set_index(MATCH_KEYS).reindex(columns=columns)


def pareto_front(points: pd.DataFrame, x: str, y: str, lower_x_is_better: bool = True) -> pd.DataFrame:
    """Rows no other row beats on both ``x`` (lower, or higher when ``lower_x_is_better`` is False) and higher ``y``.

    Sorted by ``x`` ascending; rows with a missing ``x`` or ``y`` are never on the front.
    """
    points = points.dropna(subset=[x, y])
    front, best = [], float("-inf")
    for _, row in points.sort_values([x, y], ascending=[lower_x_is_better, False]).iterrows():
        if row[y] > best:
            front.append(row)
            best = row[y]
    return pd.DataFrame(front, columns=points.columns).sort_values(x)


def regime_order(regimes) -> list[str]:
    """``regimes`` in the study's reading order (``suite.regimes.REGIMES``), any others after them alphabetically."""
    known = [r for r in REGIMES if r in set(regimes)]
    return known + sorted(set(regimes) - set(REGIMES))


def model_label(case_id: str, arch: str, regime: str) -> str:
    """The row name of a case in the architecture x regime tables.

    A built-in id (``arch.regime.dataset``) is just its architecture; a user case sharing
    the architecture (``simple_cnn.scratch.digits.long``) keeps its own row: ``simple_cnn (long)``; a
    training-set cut keeps its size: ``simple_cnn.scratch.digits@25`` -> ``simple_cnn @25``.
    """
    base, size = split_size(str(case_id))
    mark = f" @{size}" if size else ""
    parts = base.split(".")
    if parts[:2] == [arch, regime]:
        return (arch if len(parts) <= 3 else f"{arch} ({'.'.join(parts[3:])})") + mark
    return f"{arch} ({case_id})"


def point_label(case_id: str, arch: str, regime: str) -> str:
    """A case's label on a chart whose panel names the dataset: its id without the dataset part.

    ``simple_cnn.scratch.digits`` -> ``simple_cnn.scratch``; ``simple_cnn.scratch.digits.long`` ->
    ``simple_cnn.scratch.long``; ``simple_cnn.scratch.digits@25`` -> ``simple_cnn.scratch@25``; any other id
    stays whole.
    """
    base, size = split_size(str(case_id))
    parts = base.split(".")
    if len(parts) >= 3 and parts[:2] == [arch, regime]:
        return ".".join(parts[:2] + parts[3:]) + (f"@{size}" if size else "")
    return str(case_id)
