"""An experiment's report from the exposure and event streams: per-arm figures, lifts, SRM, CUPED, timeline.

Who counts: users with at least one exposure in the experiment that the assignment chose (not a request that
named its own variant, not a QA user forced into an arm). A user seen in two arms of the experiment (moved by
a weight change or a version bump) is left out and counted apart. Events count when they carry the
experiment's arm label, that is when the user was in the experiment as the event arrived; the pre-period
(`pre_period_days` before `start`) gives each user's pre-period clicks, the CUPED covariate.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import redis.asyncio as aioredis

from experiments import events, exposures, stats
from experiments.config import Experiment, ExperimentConfig, Layer
from experiments.exposures import unpack

TIMELINE_POINTS = 12
# Whether a clicked item lies outside the user's past categories (None when unknown).
NoveltyJudge = Callable[[str, str], bool | None]


class UnknownExperiment(LookupError):
    def __init__(self, experiment_id: str) -> None:
        self.reason = f"unknown experiment {experiment_id!r}"
        super().__init__(self.reason)


@dataclass
class _User:
    arms: set[str] = field(default_factory=set)
    impressions: int = 0
    clicks: int = 0
    novel_clicks: int = 0
    judged_clicks: int = 0
    page_views: int = 0
    carts: int = 0
    purchases: int = 0
    revenue: float = 0.0
    pre_clicks: int = 0
    # (time ms, impressions, clicks) per event, for the timeline.
    trail: list[tuple[int, int, int]] = field(default_factory=list)


@dataclass
class _Guardrail:
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    fallbacks: int = 0


def arm_of(label: str, experiment_id: str) -> tuple[str, bool] | None:
    """The arm named for the experiment in an arms label, and whether it was forced."""
    for pair in label.split(","):
        exp, _, arm = pair.partition(":")
        if exp == experiment_id and arm:
            return (arm[:-1], True) if arm.endswith("*") else (arm, False)
    return None


async def build_report(
    client: aioredis.Redis,
    prefix: str,
    config: ExperimentConfig,
    experiment_id: str,
    revision: int,
    novelty: NoveltyJudge | None = None,
) -> dict[str, Any]:
    found = config.experiment(experiment_id)
    if found is None:
        raise UnknownExperiment(experiment_id)
    layer, experiment = found
    users: dict[str, _User] = defaultdict(_User)
    guardrails: dict[str, _Guardrail] = defaultdict(_Guardrail)
    excluded: dict[str, set[str]] = {"forced": set(), "override": set()}
    # Which configs the users were served under (the history has each one with its time).
    revisions: Counter[int] = Counter()
    async for packed in exposures.iter_exposures(client, prefix):
        record = unpack(packed["e"])
        arm = arm_of(record.get("arms", ""), experiment_id)
        if arm is None:
            continue
        name, forced = arm
        user = record["user"]
        if forced or record.get("override") == "1":
            excluded["forced" if forced else "override"].add(user)
            continue
        users[user].arms.add(name)
        revisions[int(record["rev"])] += 1
        guard = guardrails[name]
        guard.latencies.append(float(record.get("latency_ms", "nan")))
        guard.errors += int(record.get("status", "200")) >= 500
        guard.fallbacks += record.get("fallback") == "1"
    pre_start, pre_end = _pre_period(experiment)
    async for event in events.iter_events(client, prefix):
        member = users.get(event["user"])
        if member is None:
            continue
        ts = int(event["ts"])
        arm = arm_of(event.get("arms", ""), experiment_id)
        if arm is None:
            if event["type"] == "click" and pre_start is not None and pre_start <= ts < pre_end:
                member.pre_clicks += 1
            continue
        if arm[1]:
            continue
        member.arms.add(arm[0])
        _count(member, event, ts, novelty)
    built = _assemble(layer, experiment, revision, users, guardrails, excluded, novelty is not None)
    built["exposures_by_config_revision"] = {str(rev): count for rev, count in sorted(revisions.items())}
    return built


def _pre_period(experiment: Experiment) -> tuple[int | None, int]:
    if experiment.start is None or experiment.pre_period_days <= 0:
        return None, 0
    end = int(experiment.start.timestamp() * 1000)
    return end - int(experiment.pre_period_days * 86_400_000), end


def _count(user: _User, event: dict[str, str], ts: int, novelty: NoveltyJudge | None) -> None:
    kind = event["type"]
    if kind == "impression":
        user.impressions += 1
        user.trail.append((ts, 1, 0))
    elif kind == "click":
        user.clicks += 1
        user.trail.append((ts, 0, 1))
        verdict = novelty(event["user"], event["item"]) if novelty else None
        if verdict is not None:
            user.judged_clicks += 1
            user.novel_clicks += verdict
    elif kind == "page_view":
        user.page_views += 1
    elif kind == "add_to_cart":
        user.carts += 1
    elif kind == "purchase":
        user.purchases += 1
        user.revenue += float(event.get("price", 0)) * int(event.get("qty", 1))


def _assemble(
    layer: Layer,
    experiment: Experiment,
    revision: int,
    users: dict[str, _User],
    guardrails: dict[str, _Guardrail],
    excluded: dict[str, set[str]],
    with_novelty: bool,
) -> dict[str, Any]:
    arm_names = [arm.name for arm in experiment.arms]
    moved = {uid for uid, u in users.items() if len(u.arms) > 1}
    by_arm: dict[str, list[_User]] = {name: [] for name in arm_names}
    for uid, user in users.items():
        if uid not in moved and user.arms and next(iter(user.arms)) in by_arm:
            by_arm[next(iter(user.arms))].append(user)
    columns = {name: _columns(members) for name, members in by_arm.items()}
    has_pre = experiment.pre_period_days > 0 and experiment.start is not None
    metrics = _metrics(columns, with_novelty, has_pre)
    control = experiment.control
    srm = stats.sample_ratio(
        {n: len(m) for n, m in by_arm.items()}, {a.name: a.weight for a in experiment.arms}
    )
    return {
        "experiment": experiment.id,
        "layer": layer.name,
        "version": experiment.version,
        "config_revision": revision,
        "control": control,
        "arms": {
            arm.name: {
                "weight": arm.weight,
                "params": arm.params.model_dump(exclude_none=True),
                "users": len(by_arm[arm.name]),
                **{metric: _estimate(est[arm.name]) for metric, est in metrics.items()},
                "totals": _totals(by_arm[arm.name]),
                "guardrails": _guardrails(guardrails.get(arm.name, _Guardrail())),
            }
            for arm in experiment.arms
        },
        "lift": {
            name: {
                metric: _comparison(stats.compare(est[name], est[control])) for metric, est in metrics.items()
            }
            for name in arm_names
            if name != control
        },
        "srm": asdict(srm),
        "excluded_users": {
            "forced": len(excluded["forced"]),
            "override": len(excluded["override"]),
            "seen_in_two_arms": len(moved),
        },
        "cuped": {"covariate": "pre-period clicks", "available": has_pre, **_cuped_summary(columns, has_pre)},
        "timeline": _timeline(by_arm),
    }


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


def _columns(members: list[_User]) -> dict[str, np.ndarray]:
    return {name: np.array([getattr(u, name) for u in members], dtype=float) for name in _COLUMNS}


def _metrics(
    columns: dict[str, dict[str, np.ndarray]], with_novelty: bool, has_pre: bool
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
        metrics["clicks_per_user_cuped"] = _cuped_estimates(columns)
    return metrics


def _cuped_estimates(columns: dict[str, dict[str, np.ndarray]]) -> dict[str, stats.Estimate]:
    clicks = np.concatenate([c["clicks"] for c in columns.values()])
    pre = np.concatenate([c["pre_clicks"] for c in columns.values()])
    theta = stats.cuped_theta(clicks, pre)
    mean_pre = float(np.mean(pre)) if len(pre) else 0.0
    return {
        a: stats.mean(stats.cuped(c["clicks"], c["pre_clicks"], theta, mean_pre)) for a, c in columns.items()
    }


def _cuped_summary(columns: dict[str, dict[str, np.ndarray]], has_pre: bool) -> dict[str, Any]:
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


def _timeline(by_arm: dict[str, list[_User]]) -> list[dict[str, Any]]:
    """Cumulative CTR per arm at evenly spaced times, with its 95% interval."""
    times = [t for members in by_arm.values() for u in members for t, _, _ in u.trail]
    if not times:
        return []
    first, last = min(times), max(times)
    cuts = [first + (last - first) * (i + 1) / TIMELINE_POINTS for i in range(TIMELINE_POINTS)]
    points = []
    for cut in cuts:
        point: dict[str, Any] = {"t_ms": int(cut)}
        for arm, members in by_arm.items():
            shown = np.array([sum(i for t, i, _ in u.trail if t <= cut) for u in members], dtype=float)
            clicked = np.array([sum(c for t, _, c in u.trail if t <= cut) for u in members], dtype=float)
            active = shown > 0
            point[arm] = _estimate(stats.ratio(clicked[active], shown[active]))
        points.append(point)
    return points


def _totals(members: list[_User]) -> dict[str, float]:
    return {
        "impressions": sum(u.impressions for u in members),
        "clicks": sum(u.clicks for u in members),
        "page_views": sum(u.page_views for u in members),
        "add_to_cart": sum(u.carts for u in members),
        "purchases": sum(u.purchases for u in members),
        "transaction_volume": round(sum(u.revenue for u in members), 2),
    }


def _guardrails(guard: _Guardrail) -> dict[str, Any]:
    responses = len(guard.latencies)
    if not responses:
        return {"responses": 0, "p95_latency_ms": None, "error_rate": None, "fallback_rate": None}
    return {
        "responses": responses,
        "p95_latency_ms": _num(float(np.percentile(guard.latencies, 95))),
        "error_rate": guard.errors / responses,
        "fallback_rate": guard.fallbacks / responses,
    }


def _num(value: float) -> float | None:
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
    }
