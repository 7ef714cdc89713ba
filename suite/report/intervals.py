"""Accuracy intervals: one rule for every accuracy the report, its headline, its charts and ``compare`` show.

A case's test accuracy is uncertain for two reasons: the test set is a finite sample (a binomial count of
``test_images`` trials per seed) and training varies from seed to seed. The interval is

- the Wilson 95% score interval of the pooled test images (``mean * test_images * seeds`` successes in
  ``test_images * seeds`` trials), which exists even for one seed;
- widened, on each side, to the Student-t 95% interval of the seed mean where there are two seeds or more.

That is the union of the two intervals: the larger of the two uncertainties, as the gate's standard error
(``suite.gate.standard_error``) takes the larger of the binomial and the seed error, so a difference the page
calls real is one the gate would too, and the test-set noise that the seed spread already contains is not
counted twice (a root-sum-of-squares would).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from suite.report.summary import t_interval

Z95 = 1.959963984540054  # two-sided 95% normal quantile, Wilson's z


def wilson(successes: pd.Series, trials: pd.Series, z: float = Z95) -> tuple[pd.Series, pd.Series]:
    """The Wilson score interval ``(low, high)`` of a binomial proportion; NaN where there are no trials."""
    n = trials.astype(float).where(trials > 0)
    p = (successes / n).clip(0.0, 1.0)
    centre = (p + z**2 / (2 * n)) / (1 + z**2 / n)
    half = z / (1 + z**2 / n) * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2))
    return (centre - half).clip(lower=0.0), (centre + half).clip(upper=1.0)


def accuracy_interval(cases: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """``(low, high)`` of each case's mean test accuracy, as fractions, by the rule of the module docstring.

    ``cases`` has ``per_case``'s ``test_accuracy_mean``, ``test_accuracy_std``, ``seeds`` and (where known)
    ``test_images``; a case with neither a test-set size nor two seeds has no interval (NaN).
    """
    mean = cases["test_accuracy_mean"].astype(float)
    seeds = cases["seeds"].astype(float) if "seeds" in cases else pd.Series(1.0, index=cases.index)
    images = cases["test_images"].astype(float) if "test_images" in cases else pd.Series(np.nan, index=cases.index)
    low, high = wilson(mean * images * seeds, images * seeds)
    std = cases["test_accuracy_std"].astype(float) if "test_accuracy_std" in cases else 0.0 * mean
    half = t_interval(std.fillna(0.0), seeds)
    low = pd.concat([low, mean - half], axis=1).min(axis=1)  # NaN only where both are
    high = pd.concat([high, mean + half], axis=1).max(axis=1)
    return low.clip(lower=0.0), high.clip(upper=1.0)


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


def difference_noise(half_a: pd.Series, half_b: pd.Series) -> pd.Series:
    """The 95% half-width of a difference of two independent accuracies: the root sum of squares of theirs."""
    return np.sqrt(half_a**2 + half_b**2)


def interval_text(mean, low, high) -> str:
    """``91.2 [88.0, 94.1]``: a test accuracy in % with its 95% interval; the mean alone where there is none."""
    if mean is None or pd.isna(mean):
        return ""
    if low is None or high is None or pd.isna(low) or pd.isna(high):
        return f"{100 * mean:.1f}"
    return f"{100 * mean:.1f} [{100 * low:.1f}, {100 * high:.1f}]"
