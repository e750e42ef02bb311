"""The statistics of a report, with the user as the unit of analysis.

- Per-user means (page views, purchases, ...) have the variance of a mean; ratio metrics (CTR = clicks /
  impressions summed over users) get theirs by the delta method, since a user's clicks and impressions move
  together (Deng et al., "Applying the Delta Method in Metric Analytics", KDD 2018).
- Lift is the difference against control with a 95% CI and a two-sided p-value, and relative lift t/c - 1
  by the delta method again.
- The always-valid interval is the normal-mixture confidence sequence of the mSPRT (Johari et al., "Always
  Valid Inference", 2017): it holds at every look, so a report may be read every day without inflating
  errors; it is wider than the fixed-horizon one.
- CUPED (Deng et al., WSDM 2013) adjusts a per-user metric by a pre-period covariate: Y - theta (X - mean X),
  theta = cov(X, Y) / var(X) pooled over arms.
- The sample-ratio-mismatch check is Pearson's chi-square of users per arm against the configured weights.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats as scipy_stats

Z95 = float(scipy_stats.norm.ppf(0.975))
ALPHA = 0.05
SRM_P = 0.001
# Prior scale of the mixture in the always-valid interval, as a share of the control's value: effects of
# about 10% are those the interval is tuned to find soonest.
MIXTURE_RELATIVE_SCALE = 0.1


@dataclass(frozen=True)
class Estimate:
    value: float
    variance: float
    n: int

    @property
    def se(self) -> float:
        return math.sqrt(max(self.variance, 0.0))


@dataclass(frozen=True)
class Comparison:
    absolute: float
    absolute_ci: tuple[float, float]
    relative: float | None
    relative_ci: tuple[float, float] | None
    p_value: float
    # Always-valid (sequential) 95% interval of the absolute lift.
    sequential_ci: tuple[float, float]


def mean(values: np.ndarray) -> Estimate:
    n = len(values)
    if n == 0:
        return Estimate(math.nan, math.nan, 0)
    variance = float(np.var(values, ddof=1)) / n if n > 1 else math.nan
    return Estimate(float(np.mean(values)), variance, n)


def ratio(numerator: np.ndarray, denominator: np.ndarray) -> Estimate:
    """sum(Y) / sum(X) over users, its variance by the delta method."""
    n = len(numerator)
    if n < 2 or float(np.sum(denominator)) == 0:
        return Estimate(math.nan, math.nan, n)
    mean_y, mean_x = float(np.mean(numerator)), float(np.mean(denominator))
    value = mean_y / mean_x
    var_y = float(np.var(numerator, ddof=1))
    var_x = float(np.var(denominator, ddof=1))
    cov = float(np.cov(numerator, denominator, ddof=1)[0, 1])
    variance = (var_y - 2 * value * cov + value**2 * var_x) / (mean_x**2 * n)
    return Estimate(value, variance, n)


def compare(treatment: Estimate, control: Estimate) -> Comparison:
    diff = treatment.value - control.value
    variance = treatment.variance + control.variance
    se = math.sqrt(variance) if variance > 0 else math.nan
    p_value = float(2 * scipy_stats.norm.sf(abs(diff) / se)) if se > 0 else math.nan
    relative: float | None = None
    relative_ci: tuple[float, float] | None = None
    if control.value and not math.isnan(control.value):
        relative = treatment.value / control.value - 1
        rel_var = treatment.variance / control.value**2 + (
            treatment.value**2 * control.variance / control.value**4
        )
        rel_se = math.sqrt(rel_var) if rel_var > 0 else math.nan
        relative_ci = (relative - Z95 * rel_se, relative + Z95 * rel_se)
    tau = MIXTURE_RELATIVE_SCALE * abs(control.value) if control.value else 1.0
    return Comparison(
        absolute=diff,
        absolute_ci=(diff - Z95 * se, diff + Z95 * se),
        relative=relative,
        relative_ci=relative_ci,
        p_value=p_value,
        sequential_ci=always_valid_interval(diff, variance, tau**2),
    )


def always_valid_interval(estimate: float, variance: float, mixture_variance: float) -> tuple[float, float]:
    """The mSPRT confidence sequence at level 1 - ALPHA: each theta with mixture likelihood < 1/alpha."""
    if not variance > 0 or not mixture_variance > 0:
        return (math.nan, math.nan)
    v, t2 = variance, mixture_variance
    half = math.sqrt(2 * v * (v + t2) / t2 * (math.log(1 / ALPHA) + 0.5 * math.log((v + t2) / v)))
    return (estimate - half, estimate + half)


def cuped(values: np.ndarray, covariate: np.ndarray, theta: float, covariate_mean: float) -> np.ndarray:
    return values - theta * (covariate - covariate_mean)


def cuped_theta(values: np.ndarray, covariate: np.ndarray) -> float:
    """cov(X, Y) / var(X) over all users of every arm (0 when the covariate does not vary)."""
    if len(values) < 2:
        return 0.0
    var_x = float(np.var(covariate, ddof=1))
    return float(np.cov(values, covariate, ddof=1)[0, 1]) / var_x if var_x > 0 else 0.0


@dataclass(frozen=True)
class SampleRatio:
    chi_square: float
    p_value: float
    mismatch: bool
    expected_shares: dict[str, float]
    observed: dict[str, int]


def sample_ratio(observed: dict[str, int], weights: dict[str, float]) -> SampleRatio:
    total = sum(observed.values())
    expected = {arm: total * weight for arm, weight in weights.items()}
    chi = sum((observed.get(arm, 0) - e) ** 2 / e for arm, e in expected.items() if e > 0)
    p_value = float(scipy_stats.chi2.sf(chi, df=max(len(weights) - 1, 1))) if total else 1.0
    return SampleRatio(chi, p_value, p_value < SRM_P, dict(weights), dict(observed))
