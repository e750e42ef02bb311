"""The statistics of a report, with the user as the unit of analysis.

- Per-user means (page views, purchases, ...) have the variance of a mean; ratio metrics (CTR = clicks /
  impressions summed over users) get theirs by the delta method, since a user's clicks and impressions move
  together (Deng et al., "Applying the Delta Method in Metric Analytics", KDD 2018).
- Lift is the difference against control with a 95% CI and a two-sided p-value, and relative lift t/c - 1
  by the delta method again.
- The always-valid interval is the normal-mixture confidence sequence of the mSPRT (Johari et al., "Always
  Valid Inference", 2017): it holds at every look, so a report may be read every day without inflating
  errors; it is wider than the fixed-horizon one. The always-valid p-value is 1 / the mixture likelihood
  ratio of "no difference" (capped at 1): below ALPHA exactly when the always-valid interval leaves out 0.
  The fixed-horizon p-value and interval hold only at one look planned in advance.
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
    # Fixed-horizon: valid read once, at a sample size or stop time fixed before the start.
    p_value: float
    # Always-valid (sequential): valid at every look, however often and whenever one stops.
    sequential_ci: tuple[float, float]
    always_valid_p_value: float


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
    tau2 = mixture_variance(control)
    return Comparison(
        absolute=diff,
        absolute_ci=(diff - Z95 * se, diff + Z95 * se),
        relative=relative,
        relative_ci=relative_ci,
        p_value=p_value,
        sequential_ci=always_valid_interval(diff, variance, tau2),
        always_valid_p_value=always_valid_p_value(diff, variance, tau2),
    )


def mixture_variance(control: Estimate) -> float:
    """The mixing prior's variance on the difference: (MIXTURE_RELATIVE_SCALE x the control's value)^2."""
    tau = (
        MIXTURE_RELATIVE_SCALE * abs(control.value) if control.value and math.isfinite(control.value) else 1.0
    )
    return tau**2


def always_valid_interval(estimate: float, variance: float, mixture_variance: float) -> tuple[float, float]:
    """The mSPRT confidence sequence at level 1 - ALPHA: each theta with mixture likelihood < 1/alpha."""
    if not variance > 0 or not mixture_variance > 0:
        return (math.nan, math.nan)
    v, t2 = variance, mixture_variance
    half = math.sqrt(2 * v * (v + t2) / t2 * (math.log(1 / ALPHA) + 0.5 * math.log((v + t2) / v)))
    return (estimate - half, estimate + half)


def always_valid_p_value(estimate: float, variance: float, mixture_variance: float) -> float:
    """min(1, 1 / Lambda) with Lambda the normal-mixture likelihood ratio of the difference against 0.

    Lambda = sqrt(v / (v + t2)) exp(t2 estimate^2 / (2 v (v + t2))); it is below ALPHA exactly when
    `always_valid_interval` leaves out 0 (the same inequality solved for theta = 0).
    """
    if not variance > 0 or not mixture_variance > 0 or math.isnan(estimate):
        return math.nan
    v, t2 = variance, mixture_variance
    log_lambda = 0.5 * math.log(v / (v + t2)) + t2 * estimate**2 / (2 * v * (v + t2))
    return math.exp(-log_lambda) if log_lambda > 0 else 1.0


def winsorise(values: np.ndarray, quantile: float) -> tuple[np.ndarray, float | None]:
    """Values capped at the `quantile` of the positive ones, and that cap (None when nothing is positive).

    The quantile is of the positive values: when most users buy nothing, a quantile of all users would be 0
    and cap every purchase away.
    """
    positive = values[values > 0]
    if not len(positive) or quantile >= 1:
        return values, None
    cap = float(np.quantile(positive, quantile))
    return np.minimum(values, cap), cap


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
