"""The report's side of ``suite.stats``: every accuracy interval and every "is A more accurate than B?" that the
report, its headline, its charts, ``compare`` and the gate show, read from ``per_case`` rows.

A row's interval is ``suite.stats.accuracy_from_summary`` of its mean, seed spread, seed count and test images:
training variance (a t interval over seeds) and test sampling (Wilson on the test images, counted once) in
quadrature. Two rows are compared by ``difference``: the paired test on the seeds and test images they share,
where both kept per-image outcomes (``per_case``'s ``outcomes``), else the unpaired fallback.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from suite import stats


def _get(row: Mapping, key: str, default=float("nan")):
    value = row.get(key, default) if hasattr(row, "get") else default
    return default if value is None else value


def estimate(row: Mapping) -> stats.Estimate:
    """A ``per_case`` row's accuracy estimate (``suite.stats.accuracy_from_summary``)."""
    return stats.accuracy_from_summary(
        float(_get(row, "test_accuracy_mean")),
        float(_get(row, "test_accuracy_std", 0.0)),
        float(_get(row, "seeds", 1.0)),
        _get(row, "test_images"),
    )


def _shared_outcomes(a: Mapping, b: Mapping) -> tuple[np.ndarray, np.ndarray] | None:
    """A's and B's per-image outcomes on the seeds both kept, stacked by seed; None where they can't pair."""
    kept_a, kept_b = _get(a, "outcomes", None), _get(b, "outcomes", None)
    if not isinstance(kept_a, dict) or not isinstance(kept_b, dict):
        return None
    seeds = sorted(set(kept_a) & set(kept_b))
    if not seeds or any(len(kept_a[s]) != len(kept_b[s]) for s in seeds):
        return None  # no seed in common, or not the same test images
    return np.stack([kept_a[s] for s in seeds]), np.stack([kept_b[s] for s in seeds])


def difference(a: Mapping, b: Mapping) -> stats.Difference:
    """A's accuracy minus B's: paired where both rows kept per-image outcomes of a common seed, else unpaired."""
    shared = _shared_outcomes(a, b)
    if shared is not None:
        return stats.paired_difference(*shared)
    return stats.unpaired_difference(estimate(a), estimate(b))


def accuracy_interval(cases: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """``(low, high)`` of each row's mean test accuracy, as fractions (NaN where there is no accuracy)."""
    found = [estimate(row) for _, row in cases.iterrows()]
    low = pd.Series([e.low for e in found], index=cases.index, dtype=float)
    high = pd.Series([e.high for e in found], index=cases.index, dtype=float)
    return low, high


def with_intervals(cases: pd.DataFrame) -> pd.DataFrame:
    """``cases`` with ``accuracy_low`` and ``accuracy_high`` (fractions) added, for the page, never summary.csv."""
    if cases.empty:
        return cases.assign(accuracy_low=pd.Series(dtype=float), accuracy_high=pd.Series(dtype=float))
    low, high = accuracy_interval(cases)
    return cases.assign(accuracy_low=low, accuracy_high=high)


def half_width(cases: pd.DataFrame) -> pd.Series:
    """The larger distance from the mean to either end of its interval (the Wilson interval is asymmetric)."""
    low, high = accuracy_interval(cases)
    mean = cases["test_accuracy_mean"]
    return pd.concat([mean - low, high - mean], axis=1).max(axis=1)


def interval_text(mean, low, high) -> str:
    """``91.2 [88.0, 94.1]``: a test accuracy in % with its 95% interval; the mean alone where there is none."""
    if mean is None or pd.isna(mean):
        return ""
    if low is None or high is None or pd.isna(low) or pd.isna(high):
        return f"{100 * mean:.1f}"
    return f"{100 * mean:.1f} [{100 * low:.1f}, {100 * high:.1f}]"
