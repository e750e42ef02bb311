"""A phase's figures from its per-user tallies: per-arm metrics, lifts, SRM, CUPED, revenue and the timeline.

Revenue is made robust in two steps, both recorded in the report: each purchase event's value is capped
(`purchase_value_cap`, in the tally), then each user's revenue is winsorised at a quantile (99th by default)
of the purchasing users' revenue, pooled over arms so that every arm gets the same cap.
"""

from __future__ import annotations

import math
from dataclasses import asdict
from typing import Any

import numpy as np

from experiments import stats
from experiments.phases import Phase
from experiments.tally import Guardrail, PhaseTally, UserTally

TIMELINE_POINTS = 12
ALWAYS_VALID_FIELDS = ["always_valid_p_value", "sequential_ci"]
FIXED_HORIZON_FIELDS = ["p_value", "absolute_ci", "relative_ci"]

_COLUMNS = (
    "impressions",
    "clicks",
    "novel_clicks",
    "judged_clicks",
    "page_views",
    "carts",
    "purchases",
    "revenue",
    "pre_clicks",
)
Columns = dict[str, np.ndarray]


def assemble(tally: PhaseTally, config_revision: int, now_ms: int) -> dict[str, Any]:
    """The report of the tally's phase; `config_revision` is the one serving now."""
    phase = tally.phase
    experiment = phase.experiment
    by_arm: dict[str, list[UserTally]] = {arm.name: [] for arm in experiment.arms}
    moved = 0
    for user in tally.users.values():
        if user.moved:
            moved += 1
        elif user.arm in by_arm:
            by_arm[user.arm].append(user)
    columns = {name: _columns(members) for name, members in by_arm.items()}
    revenue = _robust_revenue(
        columns, by_arm, experiment.revenue_winsor_quantile, experiment.purchase_value_cap
    )
    has_pre = tally.pre_window is not None
    metrics = _metrics(columns, tally.judged_novelty, has_pre)
    control = experiment.control
    srm = stats.sample_ratio({name: len(members) for name, members in by_arm.items()}, phase.weights)
    first_exposed = tally.first_exposed
    return {
        "experiment": experiment.id,
        "layer": phase.layer.name,
        "version": experiment.version,
        "config_revision": config_revision,
        "control": control,
        "phase": {**phase.summary(), "users_first_exposed": first_exposed[phase.number]},
        "phases": [
            {**p.summary(), "users_first_exposed": first_exposed[p.number]} for p in tally.plan.phases
        ],
        "reading": reading(phase, now_ms),
        "arms": {
            arm.name: {
                "weight": arm.weight,
                "params": arm.params.model_dump(exclude_none=True),
                "users": len(by_arm[arm.name]),
                **{metric: _estimate(est[arm.name]) for metric, est in metrics.items()},
                "totals": _totals(by_arm[arm.name]),
                "guardrails": _guardrails(tally.guardrails.get(arm.name, Guardrail())),
            }
            for arm in experiment.arms
        },
        "lift": {
            name: {
                metric: _comparison(stats.compare(est[name], est[control])) for metric, est in metrics.items()
            }
            for name in by_arm
            if name != control
        },
        "srm": asdict(srm),
        "excluded_users": {
            "forced": tally.forced,
            "override": tally.override,
            "seen_in_two_arms": moved,
            "first_exposed_in_an_earlier_phase": tally.carried_over,
        },
        "exposures_outside_history": tally.exposures_outside_history,
        "events_before_exposure": tally.events_before_exposure,
        "revenue": revenue,
        "cuped": {"covariate": "pre-period clicks", "available": has_pre, **_cuped_summary(columns, has_pre)},
        "timeline": timeline(by_arm, control),
        "exposures_by_config_revision": {str(rev): n for rev, n in sorted(tally.revisions.items())},
    }


def reading(phase: Phase, now_ms: int) -> dict[str, Any]:
    """Which p-values and intervals answer the question at this look, and why."""
    stop = phase.experiment.stop
    stop_ms = None if stop is None else int(stop.timestamp() * 1000)
    at_planned_end = (
        stop_ms is not None and now_ms >= stop_ms and (phase.ended_ms is None or phase.ended_ms >= stop_ms)
    )
    if at_planned_end:
        read = "fixed_horizon"
        why = (
            "the phase ran to the experiment's planned stop: read the fixed-horizon p-value and intervals,"
            " once (the always-valid ones hold too, and are more cautious)"
        )
    else:
        read = "always_valid"
        why = (
            "the experiment has no planned stop or has not reached it: read the always-valid p-value and"
            " interval, which hold however often the report is read and whenever it stops; the fixed-horizon"
            " ones hold only for one look planned in advance, and read daily they find effects that are not"
            " there"
        )
    return {
        "read": read,
        "why": why,
        "always_valid": ALWAYS_VALID_FIELDS,
        "fixed_horizon": FIXED_HORIZON_FIELDS,
    }


def _columns(members: list[UserTally]) -> Columns:
    return {name: np.array([getattr(u, name) for u in members], dtype=float) for name in _COLUMNS}


def _robust_revenue(
    columns: dict[str, Columns], by_arm: dict[str, list[UserTally]], quantile: float, value_cap: float | None
) -> dict[str, Any]:
    """Winsorises each arm's revenue column in place, at one threshold for all arms; what it did."""
    pooled = np.concatenate([c["revenue"] for c in columns.values()])
    _, threshold = stats.winsorise(pooled, quantile)
    winsorised = 0
    if threshold is not None:
        winsorised = int(np.count_nonzero(pooled > threshold))
        for c in columns.values():
            c["revenue"] = np.minimum(c["revenue"], threshold)
    members = [u for users in by_arm.values() for u in users]
    return {
        "purchase_value_cap": value_cap,
        "purchases_capped": sum(u.capped_purchases for u in members),
        "winsor_quantile": quantile,
        "winsor_threshold": threshold,
        "users_winsorised": winsorised,
        "volume_paid": round(sum(u.revenue_uncapped for u in members), 2),
        "volume_analysed": round(float(sum(c["revenue"].sum() for c in columns.values())), 2),
    }


def _metrics(
    columns: dict[str, Columns], with_novelty: bool, has_pre: bool
) -> dict[str, dict[str, stats.Estimate]]:
    metrics: dict[str, dict[str, stats.Estimate]] = {
        "ctr": {a: stats.ratio(c["clicks"], c["impressions"]) for a, c in columns.items()},
        "clicks_per_user": {a: stats.mean(c["clicks"]) for a, c in columns.items()},
        "page_views_per_user": {a: stats.mean(c["page_views"]) for a, c in columns.items()},
        "add_to_cart_per_user": {a: stats.mean(c["carts"]) for a, c in columns.items()},
        "purchases_per_user": {a: stats.mean(c["purchases"]) for a, c in columns.items()},
        "transaction_volume_per_user": {a: stats.mean(c["revenue"]) for a, c in columns.items()},
    }
    if with_novelty:
        metrics["novelty"] = {
            a: stats.ratio(c["novel_clicks"], c["judged_clicks"]) for a, c in columns.items()
        }
    if has_pre:
        metrics["clicks_per_user_cuped"] = cuped_estimates(columns)
    return metrics


def cuped_estimates(columns: dict[str, Columns]) -> dict[str, stats.Estimate]:
    """Clicks per user adjusted by pre-period clicks, with one theta pooled over the arms."""
    clicks = np.concatenate([c["clicks"] for c in columns.values()])
    pre = np.concatenate([c["pre_clicks"] for c in columns.values()])
    theta = stats.cuped_theta(clicks, pre)
    mean_pre = float(np.mean(pre)) if len(pre) else 0.0
    return {
        a: stats.mean(stats.cuped(c["clicks"], c["pre_clicks"], theta, mean_pre)) for a, c in columns.items()
    }


def _cuped_summary(columns: dict[str, Columns], has_pre: bool) -> dict[str, Any]:
    if not has_pre:
        return {}
    clicks = np.concatenate([c["clicks"] for c in columns.values()])
    pre = np.concatenate([c["pre_clicks"] for c in columns.values()])
    theta = stats.cuped_theta(clicks, pre)
    adjusted = stats.cuped(clicks, pre, theta, float(np.mean(pre)) if len(pre) else 0.0)
    before = float(np.var(clicks, ddof=1)) if len(clicks) > 1 else math.nan
    after = float(np.var(adjusted, ddof=1)) if len(adjusted) > 1 else math.nan
    return {
        "theta": _num(theta),
        "users_with_pre_period_clicks": int(np.count_nonzero(pre)),
        "variance_reduction": _num(1 - after / before) if before and before > 0 else None,
    }


def timeline(by_arm: dict[str, list[UserTally]], control: str) -> list[dict[str, Any]]:
    """Cumulative CTR per arm at evenly spaced times with its 95% interval, and each arm's CTR lift against
    control with its fixed-horizon and always-valid intervals (only the latter may be read at every point)."""
    trails = {arm: _trail(members) for arm, members in by_arm.items()}
    times = np.concatenate([trail[0] for trail in trails.values()])
    if not len(times):
        return []
    first, last = int(times.min()), int(times.max())
    points = []
    for index in range(TIMELINE_POINTS):
        cut = first + (last - first) * (index + 1) / TIMELINE_POINTS
        ctr: dict[str, stats.Estimate] = {}
        for arm, (t, user, shown, clicked, users) in trails.items():
            upto = t <= cut
            shown_by_user = np.bincount(user[upto], weights=shown[upto], minlength=users)
            clicked_by_user = np.bincount(user[upto], weights=clicked[upto], minlength=users)
            active = shown_by_user > 0
            ctr[arm] = stats.ratio(clicked_by_user[active], shown_by_user[active])
        lift = {}
        for arm, estimate in ctr.items():
            if arm != control and control in ctr:
                c = stats.compare(estimate, ctr[control])
                lift[arm] = {
                    "absolute": _num(c.absolute),
                    "ci": [_num(x) for x in c.absolute_ci],
                    "sequential_ci": [_num(x) for x in c.sequential_ci],
                    "always_valid_p_value": _num(c.always_valid_p_value),
                }
        points.append(
            {"t_ms": int(cut), "ctr": {arm: _estimate(e) for arm, e in ctr.items()}, "ctr_lift": lift}
        )
    return points


def _trail(members: list[UserTally]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
    """(times, user index, impressions, clicks) of every event of the members, and how many members."""
    rows = [(t, i, shown, clicked) for i, u in enumerate(members) for t, shown, clicked in u.trail]
    table = np.array(rows, dtype=np.int64).reshape(-1, 4)
    return table[:, 0], table[:, 1], table[:, 2].astype(float), table[:, 3].astype(float), len(members)


def _totals(members: list[UserTally]) -> dict[str, float]:
    return {
        "impressions": sum(u.impressions for u in members),
        "clicks": sum(u.clicks for u in members),
        "page_views": sum(u.page_views for u in members),
        "add_to_cart": sum(u.carts for u in members),
        "purchases": sum(u.purchases for u in members),
        # What was paid, before the caps (the metric uses the capped value).
        "transaction_volume": round(sum(u.revenue_uncapped for u in members), 2),
    }


def _guardrails(guard: Guardrail) -> dict[str, Any]:
    responses = guard.responses
    if not responses:
        return {"responses": 0, "p95_latency_ms": None, "error_rate": None, "fallback_rate": None}
    return {
        "responses": responses,
        "p95_latency_ms": guard.percentile(95),
        "error_rate": guard.errors / responses,
        "fallback_rate": guard.fallbacks / responses,
    }


def _num(value: float | None) -> float | None:
    return None if value is None or math.isnan(value) or math.isinf(value) else value


def _estimate(estimate: stats.Estimate) -> dict[str, Any]:
    se = estimate.se
    return {
        "value": _num(estimate.value),
        "ci": [_num(estimate.value - stats.Z95 * se), _num(estimate.value + stats.Z95 * se)],
        "n": estimate.n,
    }


def _comparison(c: stats.Comparison) -> dict[str, Any]:
    return {
        "absolute": _num(c.absolute),
        "absolute_ci": [_num(x) for x in c.absolute_ci],
        "relative": _num(c.relative) if c.relative is not None else None,
        "relative_ci": [_num(x) for x in c.relative_ci] if c.relative_ci else None,
        "p_value": _num(c.p_value),
        "sequential_ci": [_num(x) for x in c.sequential_ci],
        "always_valid_p_value": _num(c.always_valid_p_value),
    }
