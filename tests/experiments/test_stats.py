"""The statistics against simulation and independent computations (bootstrap, scipy): intervals cover at
their level, SRM flags a broken split, CUPED, always-valid inference under peeking, winsorisation."""

from __future__ import annotations

import math

import numpy as np
from scipy import stats as scipy_stats

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


def test_delta_method_se_matches_the_bootstrap_on_heterogeneous_users() -> None:
    """Users who see many items and click at their own rates: the naive binomial SE (impressions as
    independent trials) is far too small, the delta method's agrees with resampling users."""
    rng = np.random.default_rng(3)
    users = 2000
    impressions = rng.geometric(0.05, users).astype(float)
    clicks = rng.binomial(impressions.astype(int), rng.beta(0.3, 3.0, users)).astype(float)
    estimate = stats.ratio(clicks, impressions)
    resampled = rng.integers(0, users, (2000, users))
    bootstrap_se = float((clicks[resampled].sum(1) / impressions[resampled].sum(1)).std(ddof=1))
    naive_se = math.sqrt(estimate.value * (1 - estimate.value) / impressions.sum())

    assert abs(estimate.se / bootstrap_se - 1) < 0.1
    assert naive_se < 0.6 * bootstrap_se


def test_relative_lift_interval_matches_the_bootstrap() -> None:
    rng = np.random.default_rng(4)
    control, treatment = rng.exponential(2.0, 3000), rng.exponential(2.2, 3000)
    lift = stats.compare(stats.mean(treatment), stats.mean(control))
    draws = 2000
    boot_t = treatment[rng.integers(0, len(treatment), (draws, len(treatment)))].mean(1)
    boot_c = control[rng.integers(0, len(control), (draws, len(control)))].mean(1)
    low, high = np.quantile(boot_t / boot_c - 1, [0.025, 0.975])

    assert lift.relative_ci is not None
    width = high - low
    assert abs(lift.relative_ci[0] - low) < 0.1 * width and abs(lift.relative_ci[1] - high) < 0.1 * width


def test_srm_with_unequal_weights_is_scipys_chi_square() -> None:
    observed = {"control": 2130, "a": 4870, "b": 3000}
    weights = {"control": 0.2, "a": 0.5, "b": 0.3}
    total = sum(observed.values())
    expected = scipy_stats.chisquare(
        [observed[arm] for arm in weights], [total * weights[arm] for arm in weights]
    )

    found = stats.sample_ratio(observed, weights)

    assert math.isclose(found.chi_square, float(expected.statistic), rel_tol=1e-12)
    assert math.isclose(found.p_value, float(expected.pvalue), rel_tol=1e-9)
    assert found.mismatch == (expected.pvalue < stats.SRM_P)


def test_the_always_valid_p_value_agrees_with_the_interval() -> None:
    for estimate in np.linspace(-0.3, 0.3, 61):
        low, high = stats.always_valid_interval(float(estimate), 0.004, 0.01)
        p_value = stats.always_valid_p_value(float(estimate), 0.004, 0.01)
        assert (p_value < stats.ALPHA) == (low > 0 or high < 0), estimate


def test_peeking_at_every_look_stays_within_alpha_only_with_the_always_valid_p_value() -> None:
    """A/A read at 20 looks: stopping at the first p < 0.05 finds an effect far more often than 5% of the
    time with the fixed-horizon p-value, and at most that often with the always-valid one."""
    rng = np.random.default_rng(5)
    runs, looks, per_look = 400, 20, 50
    sums = rng.normal(1.0, 1.0, (runs, 2, looks, per_look)).sum(-1).cumsum(-1)
    fixed_hits = valid_hits = 0
    for run in range(runs):
        fixed = valid = False
        for look in range(looks):
            n = (look + 1) * per_look
            treatment = stats.Estimate(sums[run, 0, look] / n, 1.0 / n, n)
            control = stats.Estimate(sums[run, 1, look] / n, 1.0 / n, n)
            lift = stats.compare(treatment, control)
            fixed |= lift.p_value < stats.ALPHA
            valid |= lift.always_valid_p_value < stats.ALPHA
        fixed_hits += fixed
        valid_hits += valid

    assert fixed_hits / runs > 0.15
    assert valid_hits / runs <= stats.ALPHA


def test_winsorising_caps_at_the_quantile_of_the_positive_values() -> None:
    values = np.array([0.0] * 900 + list(range(1, 101)), dtype=float)

    capped, cap = stats.winsorise(values, 0.99)

    assert cap == float(np.quantile(np.arange(1, 101), 0.99))
    assert capped.max() == cap and capped[:900].sum() == 0
    assert stats.winsorise(np.zeros(5), 0.99)[1] is None
