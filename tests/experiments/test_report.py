"""The report from real streams: who counts (forced, named variants, phases), pre-period clicks, and a weight
change that starts a new phase analysed against its own weights."""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime

import pytest
import redis.asyncio as aioredis

from experiments.allocation import reweight
from experiments.config import ExperimentConfig
from experiments.events import EventStore, iter_events
from experiments.exposures import ExposureLog
from experiments.report import Revision, UnknownPhase, build_report
from tests.experiments.configs import config, two_arms
from tests.experiments.records import event, exposure


def reweighted(cfg: ExperimentConfig, weights: dict[str, float]) -> ExperimentConfig:
    layer = cfg.layers[0]
    moved = layer.model_copy(update={"experiments": [reweight(layer.experiments[0], weights)]})
    return cfg.model_copy(update={"layers": [moved]})


async def test_report_counts_the_right_users_and_pre_period_clicks(
    redis_client: aioredis.Redis, redis_prefix: str
) -> None:
    exposures = ExposureLog(redis_client, redis_prefix, 1.0, 1000, 5.0)
    events = EventStore(redis_client, redis_prefix, 600)
    # Before the start: pre-period clicks of u1 (no arm label yet).
    await events.store([(event("click", "u1"), ""), (event("click", "u1"), "")], 1)
    stored_ms = max([int(e["ts"]) async for e in iter_events(redis_client, redis_prefix)])
    # The start follows the pre-period events by their own clock, whatever the time it took to store them.
    cfg = config(two_arms(start=datetime.fromtimestamp((stored_ms + 1) / 1000, UTC), pre_period_days=1))
    for user, arm in (("u1", "control"), ("u2", "treatment"), ("u3", "control")):
        exposures.record(exposure(user, f"exp-a:{arm}"))
        await events.store(
            [(event("impression", user), f"exp-a:{arm}"), (event("click", user), f"exp-a:{arm}")], 1
        )
    exposures.record(exposure("qa", "exp-a:treatment*", forced=True))
    exposures.record(exposure("named", "exp-a:control", override=True))
    # u3 is later seen in the other arm within the same phase (which a phase should not allow): left out.
    await events.store([(event("impression", "u3"), "exp-a:treatment")], 1)
    await exposures.flush()

    report = await build_report(redis_client, redis_prefix, "exp-a", [], Revision(1, None, cfg))

    assert report["arms"]["control"]["users"] == 1 and report["arms"]["treatment"]["users"] == 1
    assert report["excluded_users"] == {
        "forced": 1,
        "override": 1,
        "seen_in_two_arms": 1,
        "first_exposed_in_an_earlier_phase": 0,
    }
    assert report["arms"]["control"]["totals"] == {
        "impressions": 1,
        "clicks": 1,
        "page_views": 0,
        "add_to_cart": 0,
        "purchases": 0,
        "transaction_volume": 0,
    }
    assert report["cuped"]["available"] and report["cuped"]["users_with_pre_period_clicks"] == 1
    assert report["arms"]["control"]["guardrails"]["p95_latency_ms"] == 5.0
    assert report["exposures_by_config_revision"] == {"1": 3}
    assert report["phase"]["number"] == 1 and report["phase"]["current"]


async def test_a_reweight_starts_a_phase_with_its_own_users_and_weights(
    redis_client: aioredis.Redis, redis_prefix: str
) -> None:
    first = config(two_arms())
    second = reweighted(first, {"control": 0.3, "treatment": 0.7})
    now_ms = int(time.time() * 1000)
    history = [Revision(1, now_ms - 60_000, first), Revision(2, now_ms, second)]
    exposures = ExposureLog(redis_client, redis_prefix, 1.0, 1000, 5.0)
    events = EventStore(redis_client, redis_prefix, 600)
    # Phase 1: a and b; phase 2: a again (moved to treatment by the reweight) and c, d, e.
    for user, arm, revision in (
        ("a", "control", 1), ("b", "treatment", 1),
        ("a", "treatment", 2), ("c", "control", 2), ("d", "treatment", 2), ("e", "treatment", 2),
    ):  # fmt: skip
        exposures.record(exposure(user, f"exp-a:{arm}", revision))
        await events.store([(event("click", user), f"exp-a:{arm}")], revision)
    await exposures.flush()

    current = await build_report(redis_client, redis_prefix, "exp-a", history, history[-1])
    earlier = await build_report(redis_client, redis_prefix, "exp-a", history, history[-1], phase=1)

    assert [p["weights"] for p in current["phases"]] == [
        {"control": 0.5, "treatment": 0.5},
        {"control": 0.3, "treatment": 0.7},
    ]
    assert current["phase"]["number"] == 2 and current["srm"]["expected_shares"] == {
        "control": 0.3,
        "treatment": 0.7,
    }
    assert {arm: row["users"] for arm, row in current["arms"].items()} == {"control": 1, "treatment": 2}
    assert current["excluded_users"]["first_exposed_in_an_earlier_phase"] == 1
    assert current["excluded_users"]["seen_in_two_arms"] == 0
    # Phase 1 keeps a in control, with only the clicks a made while phase 1 lasted.
    assert earlier["phase"]["number"] == 1 and not earlier["phase"]["current"]
    assert {arm: row["totals"]["clicks"] for arm, row in earlier["arms"].items()} == {
        "control": 1,
        "treatment": 1,
    }
    with pytest.raises(UnknownPhase):
        await build_report(redis_client, redis_prefix, "exp-a", history, history[-1], phase=3)


async def test_revenue_is_capped_per_purchase_and_winsorised_per_user(
    redis_client: aioredis.Redis, redis_prefix: str
) -> None:
    cfg = config(two_arms(purchase_value_cap=500.0, revenue_winsor_quantile=0.9))
    exposures = ExposureLog(redis_client, redis_prefix, 1.0, 1000, 5.0)
    events = EventStore(redis_client, redis_prefix, 600)
    for index in range(20):
        user, arm = f"buyer-{index}", ("control", "treatment")[index % 2]
        exposures.record(exposure(user, f"exp-a:{arm}"))
        await events.store([(event("purchase", user, price=10.0 + index), f"exp-a:{arm}")], 1)
    # One mistyped price: 1,000,000 paid, counted as the cap of 500, then winsorised with the others.
    exposures.record(exposure("whale", "exp-a:treatment"))
    await events.store([(event("purchase", "whale", price=1e6), "exp-a:treatment")], 1)
    await exposures.flush()

    report = await build_report(redis_client, redis_prefix, "exp-a", [], Revision(1, None, cfg))

    revenue = report["revenue"]
    assert revenue["purchase_value_cap"] == 500.0 and revenue["purchases_capped"] == 1
    assert revenue["winsor_quantile"] == 0.9
    # The 0.9 quantile of the 21 purchasers' revenue (10 to 29, and 500): 28; two users are above it.
    threshold = revenue["winsor_threshold"]
    assert threshold == 28 and revenue["users_winsorised"] == 2
    assert report["arms"]["treatment"]["totals"]["transaction_volume"] > 1e6
    volume = report["arms"]["treatment"]["transaction_volume_per_user"]["value"]
    assert math.isclose(volume * 11, sum(min(10.0 + i, threshold) for i in range(1, 20, 2)) + threshold)
