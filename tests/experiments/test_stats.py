"""The statistics against simulation: intervals cover at their level, SRM flags a broken split, CUPED."""

from __future__ import annotations

import numpy as np

from experiments import stats


def test_delta_method_ratio_interval_covers_the_truth() -> None:
    rng = np.random.default_rng(0)
    covered = 0
    trials = 400
    for _ in range(trials):
        impressions = rng.poisson(20, 500) + 1
        clicks = rng.binomial(impressions, 0.05)
        estimate = stats.ratio(clicks.astype(float), impressions.astype(float))
        covered += abs(estimate.value - 0.05) <= stats.Z95 * estimate.se
    assert 0.92 <= covered / trials <= 0.98


def test_compare_finds_a_real_lift_and_not_a_null_one() -> None:
    rng = np.random.default_rng(1)
    control = stats.mean(rng.normal(1.0, 1.0, 4000))
    better = stats.compare(stats.mean(rng.normal(1.2, 1.0, 4000)), control)
    same = stats.compare(stats.mean(rng.normal(1.0, 1.0, 4000)), control)
    assert better.p_value < 1e-6 and better.absolute_ci[0] > 0
    assert same.p_value > 0.001
    assert better.relative is not None and 0.1 < better.relative < 0.3
    # The always-valid interval holds at every look, so it is wider than the fixed-horizon one.
    assert better.sequential_ci[0] < better.absolute_ci[0] and better.sequential_ci[1] > better.absolute_ci[1]


def test_srm_flags_a_broken_split_only() -> None:
    weights = {"control": 0.5, "treatment": 0.5}
    assert not stats.sample_ratio({"control": 5030, "treatment": 4970}, weights).mismatch
    assert stats.sample_ratio({"control": 5300, "treatment": 4700}, weights).mismatch


def test_cuped_reduces_variance_without_moving_the_mean() -> None:
    rng = np.random.default_rng(2)
    pre = rng.poisson(3, 5000).astype(float)
    post = pre + rng.normal(0, 1, 5000)
    theta = stats.cuped_theta(post, pre)
    adjusted = stats.cuped(post, pre, theta, float(pre.mean()))
    assert abs(adjusted.mean() - post.mean()) < 1e-9
    assert adjusted.var() < 0.5 * post.var()
