"""One rule for accuracy uncertainty: a case's interval, and whether case A is more accurate than case B.

Every place that ranks or compares accuracies (the front, the budget picks and their "tied", the label-efficiency
crossover, ``suite compare`` and ``suite gate``) asks this module, so that a difference one of them calls real
is real to all of them. ``docs/report.md`` explains the rule in plain words with a worked example.

An accuracy is uncertain for two independent reasons, and the interval carries both:

- **training**: another seed trains another model. Seeds share the test set, so their spread is training
  variance alone. Its part is the Student-t 95% interval of the seed mean (``scipy.stats.t``), which is honest
  at three seeds where a bootstrap over three values is far too narrow. One seed has no such part, and says so
  (``Estimate.training_variance``).
- **test sampling**: the test set is one sample of the images the model will meet. For one case that part is
  the Wilson interval of its accuracy on the test images (``scipy.stats.binomtest(...).proportion_ci``); the
  images are counted once, never once per seed, since every seed is scored on the same images.

The two parts are independent, so their half-widths add in quadrature, on each side.

A difference is tested **paired**: A and B are compared on the same seeds (seed *k* gives every case of a dataset
the same split, data order and augmentation stream) and the same test images. The training part is the t interval
of the per-seed differences; the test-sampling part is a seeded percentile bootstrap of the mean per-image
difference (drawn as multinomial counts over its few values: ``_image_half_widths``), which is how McNemar's test
sees two classifiers: only the images on which they disagree move it. Percentile, not BCa: with a handful of
discordant images BCa's correction pulls the lower end above 0 where McNemar's exact test finds nothing (2 of 2
discordant images: p = 0.5); the percentile interval keeps 0 in it. Where per-image outcomes are missing (a
results folder older than ``predictions/``), the test falls back to the two cases' own intervals, unpaired, and
says so (``Difference.paired``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

LEVEL = 0.95  # every interval and test in the suite is at this level
BOOTSTRAP_RESAMPLES = 4999
BOOTSTRAP_SEED = 20261207  # the bootstrap is seeded, so a rerun of the report gives the same intervals


@dataclass(frozen=True, kw_only=True)
class Estimate:
    """A case's mean accuracy (a fraction) and its 95% interval, from ``seeds`` seeds on ``images`` test images."""

    mean: float
    low: float
    high: float
    seeds: int
    images: int

    @property
    def training_variance(self) -> bool:
        """Whether the interval includes training variance: it needs two seeds or more."""
        return self.seeds >= 2

    @property
    def half_width(self) -> float:
        """The larger distance from the mean to either end (the Wilson part is asymmetric)."""
        return max(self.mean - self.low, self.high - self.mean)


@dataclass(frozen=True, kw_only=True)
class Difference:
    """A's accuracy minus B's (fractions) with its 95% interval, and what the interval says."""

    mean: float
    low: float
    high: float
    seeds: int  # seeds the two share (paired) or the fewer of the two (unpaired)
    paired: bool  # on the same seeds and test images; False: from the two intervals, as a fallback

    @property
    def verdict(self) -> str:
        """``"higher"`` (A beats B), ``"lower"`` (B beats A) or ``"tied"`` (the interval holds 0)."""
        if self.low > 0:
            return "higher"
        if self.high < 0:
            return "lower"
        return "tied"


def seed_half_width(values: Sequence[float], level: float = LEVEL) -> float:
    """Half-width of the Student-t interval of the mean of ``values`` (one per seed); 0 for fewer than two."""
    values = np.asarray(values, dtype=float)
    if len(values) < 2:
        return 0.0
    spread = stats.sem(values)
    return float(stats.t.ppf(0.5 + level / 2, len(values) - 1) * spread) if spread > 0 else 0.0


def test_interval(mean: float, images: int, level: float = LEVEL) -> tuple[float, float]:
    """The Wilson interval of accuracy ``mean`` on ``images`` test images; ``(mean, mean)`` without images."""
    if not images or images <= 0 or math.isnan(mean):
        return mean, mean
    hits = int(round(min(max(mean, 0.0), 1.0) * images))
    found = stats.binomtest(hits, int(images)).proportion_ci(confidence_level=level, method="wilson")
    return float(found.low), float(found.high)


def _estimate(mean: float, seed_half: float, seeds: int, images) -> Estimate:
    """The interval of the module docstring from its two parts: the seeds' half-width and the test images."""
    images = 0 if images is None or (isinstance(images, float) and math.isnan(images)) else int(images)
    nan = float("nan")
    if seeds == 0 or math.isnan(mean):
        return Estimate(mean=nan, low=nan, high=nan, seeds=0, images=images)
    if seeds < 2 and images <= 0:  # neither part is known: no interval, rather than a false zero width
        return Estimate(mean=mean, low=nan, high=nan, seeds=seeds, images=images)
    test_low, test_high = test_interval(mean, images)
    low = mean - math.hypot(mean - test_low, seed_half)
    high = mean + math.hypot(test_high - mean, seed_half)
    return Estimate(mean=mean, low=max(low, 0.0), high=min(high, 1.0), seeds=seeds, images=images)


def accuracy(per_seed: Sequence[float], images: int) -> Estimate:
    """A case's mean accuracy over its seeds with the interval of the module docstring."""
    values = np.asarray([v for v in per_seed if not math.isnan(v)], dtype=float)
    mean = float(values.mean()) if len(values) else float("nan")
    return _estimate(mean, seed_half_width(values), len(values), images)


def seed_half_from_std(std: float, seeds: int, level: float = LEVEL) -> float:
    """``seed_half_width`` from the seeds' sample standard deviation and count; NaN for fewer than two seeds."""
    if seeds is None or math.isnan(seeds) or seeds < 2:
        return float("nan")
    std = 0.0 if std is None or math.isnan(std) else float(std)
    return float(stats.t.ppf(0.5 + level / 2, int(seeds) - 1) * std / math.sqrt(int(seeds)))


def accuracy_from_summary(mean: float, std: float, seeds: int, images) -> Estimate:
    """``accuracy`` from a summary row's mean, sample standard deviation and seed count (the same interval)."""
    seeds = 0 if seeds is None or math.isnan(seeds) else int(seeds)
    half = seed_half_from_std(std, seeds)
    return _estimate(float(mean), 0.0 if math.isnan(half) else half, seeds, images)


def _image_half_widths(per_image: np.ndarray, level: float = LEVEL) -> tuple[float, float]:
    """How far below and above its mean the percentile bootstrap interval of the mean of ``per_image`` reaches.

    ``per_image`` takes a handful of values (a mean over seeds of -1, 0 and 1), and resampling n values with
    replacement from it draws a multinomial over those values: the same bootstrap distribution, in work that does
    not grow with the test set. ``scipy.stats.bootstrap`` resamples the n values themselves: 4.6 s a pair on
    10,000 images against 0.02 s here (AMD EPYC family 26 model 2, AVX-512, 2 busy cores), and a front tests
    thousands of pairs; ``tests/test_stats.py`` checks the two agree.
    """
    values, counts = np.unique(per_image, return_counts=True)
    if len(values) < 2:
        return 0.0, 0.0  # A and B agree on every image: nothing for the test set to move
    size = len(per_image)
    draws = np.random.default_rng(BOOTSTRAP_SEED).multinomial(size, counts / size, size=BOOTSTRAP_RESAMPLES)
    low, high = np.quantile(draws @ values / size, [(1 - level) / 2, (1 + level) / 2])
    mean = float(per_image.mean())
    return max(mean - float(low), 0.0), max(float(high) - mean, 0.0)


def paired_difference(correct_a: np.ndarray, correct_b: np.ndarray) -> Difference:
    """A minus B from their per-image outcomes, shape ``(seeds, images)``, rows the same seeds, columns the same
    test images, 1 where the case got the image right; the test of the module docstring."""
    a, b = np.atleast_2d(correct_a).astype(float), np.atleast_2d(correct_b).astype(float)
    if a.shape != b.shape:
        raise ValueError(f"paired outcomes must share seeds and images: {a.shape} against {b.shape}")
    differences = a - b
    mean = float(differences.mean())
    seed = seed_half_width(differences.mean(axis=1))
    below, above = _image_half_widths(differences.mean(axis=0))
    return Difference(
        mean=mean,
        low=mean - math.hypot(below, seed),
        high=mean + math.hypot(above, seed),
        seeds=a.shape[0],
        paired=True,
    )


def unpaired_difference(a: Estimate, b: Estimate) -> Difference:
    """A minus B from their intervals alone, where no per-image outcomes were kept: the half-widths add in
    quadrature, as for two independent estimates. Wider than the paired test; used only as its fallback."""
    mean = a.mean - b.mean
    below = math.hypot(a.mean - a.low, b.high - b.mean)
    above = math.hypot(a.high - a.mean, b.mean - b.low)
    return Difference(mean=mean, low=mean - below, high=mean + above, seeds=min(a.seeds, b.seeds), paired=False)


def median_rank(count: int, level: float = 0.95) -> int:
    """The largest ``k`` whose order statistics ``[x_(k), x_(count+1-k)]`` cover a median with at least ``level``.

    Distribution-free (the sign test's interval): ``P(Binomial(count, 1/2) < k) <= (1 - level) / 2``.
    Returns 0 when even the full range falls short (fewer than 6 values at 95%).
    """
    tail, rank = 0.0, 0
    for k in range(count + 1):
        tail += math.comb(count, k) / 2**count
        if tail > (1 - level) / 2:
            return rank
        rank = k + 1
    return rank


def drift_half(sd: float, level: float = LEVEL) -> float:
    """Half-width in log space of where a rerun's latency falls from the machine's drift alone (``sd``: its log
    spread, ``suite.measure.speed.drift_sd``): each run meets the machine at its own moment, so their difference has
    ``sqrt(2)`` times the drift's spread."""
    return float(stats.norm.ppf((1 + level) / 2) * math.sqrt(2) * sd)


def widen(value: float, low: float, high: float, half: float) -> tuple[float, float]:
    """``[low, high]`` around ``value`` with ``half`` (log space) joined to each side in quadrature: the interval's
    own noise and the machine's drift are independent."""
    return _join(value, low, high, half, 1.0)


def narrow(value: float, low: float, high: float, half: float) -> tuple[float, float]:
    """``widen`` undone: the interval of one moment, for comparing figures of one lap, which share the drift."""
    return _join(value, low, high, half, -1.0)


def _join(value: float, low: float, high: float, half: float, sign: float) -> tuple[float, float]:
    if not (value > 0 and low > 0 and high > 0) or not half > 0:
        return low, high
    below, above = (math.sqrt(max(math.log(r) ** 2 + sign * half**2, 0.0)) for r in (value / low, high / value))
    return value * math.exp(-below), value * math.exp(above)
