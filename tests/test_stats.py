"""suite.stats: a case's accuracy interval and the paired test of a difference, against figures worked by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from suite import stats


def wilson_by_hand(hits: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """The Wilson score interval, written out, to check that suite.stats asks scipy for the right one."""
    p = hits / n
    centre = (p + z**2 / (2 * n)) / (1 + z**2 / n)
    half = z / (1 + z**2 / n) * math.sqrt(p * (1 - p) / n + z**2 / (4 * n**2))
    return centre - half, centre + half


def test_one_seed_gets_the_wilson_interval_of_its_test_images_and_says_it_omits_training_variance():
    estimate = stats.accuracy([331 / 360], images=360)
    low, high = wilson_by_hand(331, 360)
    assert (estimate.low, estimate.high) == (pytest.approx(low), pytest.approx(high))
    assert estimate.mean == pytest.approx(331 / 360) and estimate.low < estimate.mean < estimate.high
    assert not estimate.training_variance and estimate.seeds == 1


def test_three_seeds_add_the_t_interval_of_their_spread_to_the_test_images_part_in_quadrature():
    """Seeds 0.90, 0.92, 0.94: standard error 0.02/sqrt(3), t(0.975, 2 df) = 4.303, so 0.0497 from the seeds;
    the mean 0.92 is 331.2 of 360 images, counted once (not once per seed), so Wilson of 331/360."""
    estimate = stats.accuracy([0.90, 0.92, 0.94], images=360)
    seed_half = 4.302652729911275 * 0.02 / math.sqrt(3)
    low, high = wilson_by_hand(331, 360)
    assert estimate.mean == pytest.approx(0.92)
    assert estimate.low == pytest.approx(0.92 - math.hypot(0.92 - low, seed_half), abs=1e-9)
    assert estimate.high == pytest.approx(0.92 + math.hypot(high - 0.92, seed_half), abs=1e-9)
    assert estimate.training_variance and estimate.half_width > seed_half


def test_an_interval_is_in_fractions_and_never_leaves_zero_to_one():
    perfect = stats.accuracy([1.0, 1.0, 0.99], images=100)
    assert 0.0 <= perfect.low < perfect.mean < perfect.high <= 1.0
    assert stats.accuracy([0.5], images=10).high < 1.0  # a fraction, not a percentage


def outcomes(rng, seeds: int, images: int, accuracy: float) -> np.ndarray:
    return (rng.random((seeds, images)) < accuracy).astype(np.int8)


def test_a_model_right_on_the_same_images_plus_ten_more_is_higher_paired_though_the_intervals_overlap():
    """B is A with 10 of its 360 right answers wrong, on every seed: 2.8 points that the paired test sees on
    the images where they disagree, while each case's own interval (about +-3 points) overlaps the other's."""
    rng = np.random.default_rng(0)
    a = outcomes(rng, 3, 360, 0.9)
    b = a.copy()
    for seed in range(3):
        b[seed, np.flatnonzero(a[seed])[:10]] = 0
    paired = stats.paired_difference(a, b)
    assert paired.mean == pytest.approx(10 / 360) and paired.paired
    assert paired.verdict == "higher" and paired.low > 0
    assert stats.paired_difference(b, a).verdict == "lower"  # the direction is A minus B
    unpaired = stats.unpaired_difference(
        stats.accuracy(a.mean(axis=1), images=360), stats.accuracy(b.mean(axis=1), images=360)
    )
    assert unpaired.verdict == "tied" and not unpaired.paired


def test_two_models_that_agree_everywhere_are_tied_at_exactly_zero():
    a = outcomes(np.random.default_rng(1), 3, 200, 0.8)
    same = stats.paired_difference(a, a.copy())
    assert (same.mean, same.low, same.high, same.verdict) == (0.0, 0.0, 0.0, "tied")


def test_a_difference_that_one_seed_shows_and_the_others_reverse_is_tied():
    """Per-seed differences +8, -6 and +1 points: their t interval holds 0, however many images agree."""
    a = np.ones((3, 100), dtype=np.int8)
    b = np.ones((3, 100), dtype=np.int8)
    b[0, :8] = 0
    a[1, :6] = 0
    b[2, :1] = 0
    assert stats.paired_difference(a, b).verdict == "tied"


def test_two_models_that_disagree_often_but_evenly_are_tied():
    """A and B each right on 70% of 300 images, wrong on different ones: half their answers differ, no side wins."""
    a = np.zeros((1, 300), dtype=np.int8)
    b = np.zeros((1, 300), dtype=np.int8)
    a[0, :210], b[0, 90:] = 1, 1
    found = stats.paired_difference(a, b)
    assert found.mean == pytest.approx(0.0) and found.verdict == "tied" and found.high - found.low > 0.05


def test_the_bootstrap_is_seeded_so_the_report_is_the_same_on_a_rerun():
    rng = np.random.default_rng(2)
    a, b = outcomes(rng, 3, 360, 0.9), outcomes(rng, 3, 360, 0.88)
    assert stats.paired_difference(a, b) == stats.paired_difference(a, b)


def test_outcomes_of_different_shapes_are_refused():
    with pytest.raises(ValueError, match="share seeds and images"):
        stats.paired_difference(np.ones((3, 10)), np.ones((2, 10)))


def test_a_summary_row_gets_the_same_interval_as_its_seeds():
    seeds = [0.90, 0.93, 0.91]
    from_seeds = stats.accuracy(seeds, images=360)
    from_summary = stats.accuracy_from_summary(float(np.mean(seeds)), float(np.std(seeds, ddof=1)), 3, 360.0)
    assert (from_summary.low, from_summary.high) == (pytest.approx(from_seeds.low), pytest.approx(from_seeds.high))
    assert stats.accuracy_from_summary(float("nan"), 0.0, 0, 360).seeds == 0


def test_two_discordant_images_are_no_evidence_as_mcnemars_exact_test_finds():
    """A right on 2 images B gets wrong and the same elsewhere, one seed: McNemar's exact p is 0.5, so tied."""
    from scipy.stats import binomtest

    a = np.ones((1, 360), dtype=np.int8)
    b = a.copy()
    b[0, :2] = 0
    assert binomtest(2, 2).pvalue == 0.5
    assert stats.paired_difference(a, b).verdict == "tied"


def test_the_multinomial_bootstrap_agrees_with_scipys_resampling_of_the_images():
    """The image part draws multinomial counts over the per-image values; scipy.stats.bootstrap resamples the
    values themselves. On 2,000 images the two percentile intervals agree within Monte Carlo error."""
    from scipy.stats import bootstrap

    rng = np.random.default_rng(3)
    a, b = outcomes(rng, 3, 2000, 0.9), outcomes(rng, 3, 2000, 0.88)
    per_image = (a - b).astype(float).mean(axis=0)
    found = bootstrap((per_image,), np.mean, method="percentile", n_resamples=9999, rng=np.random.default_rng(0))
    below, above = stats._image_half_widths(per_image)
    mean = per_image.mean()
    assert mean - below == pytest.approx(found.confidence_interval.low, abs=0.001)
    assert mean + above == pytest.approx(found.confidence_interval.high, abs=0.001)
