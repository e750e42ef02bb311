"""The report from real streams: who counts (forced, named variants, users in two arms), pre-period clicks."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import redis.asyncio as aioredis

from experiments.events import Event, EventStore, EventType
from experiments.exposures import Exposure, ExposureLog
from experiments.report import build_report
from tests.experiments.configs import config, two_arms


def exposure(user: str, arms: str, **flags: bool) -> Exposure:
    return Exposure(
        user_id=user,
        request_id=uuid.uuid4().hex,
        arms=arms,
        revision=1,
        variant="baseline",
        status=200,
        latency_ms=5.0,
        fallback=False,
        override=flags.get("override", False),
        holdout=False,
        forced=flags.get("forced", False),
    )


def event(kind: EventType, user: str) -> Event:
    return Event(event_id=uuid.uuid4().hex, type=kind, user_id=user, item_id="item-1")


async def test_report_counts_the_right_users_and_pre_period_clicks(
    redis_client: aioredis.Redis, redis_prefix: str
) -> None:
    start = datetime.now(UTC) + timedelta(seconds=0.2)
    cfg = config(two_arms(start=start, pre_period_days=1))
    exposures = ExposureLog(redis_client, redis_prefix, 1.0, 1000, 5.0)
    events = EventStore(redis_client, redis_prefix, 600)
    # Before the start: pre-period clicks of u1 (no arm label yet).
    await events.store([(event("click", "u1"), ""), (event("click", "u1"), "")], 1)

    await asyncio.sleep(0.3)
    for user, arm in (("u1", "control"), ("u2", "treatment"), ("u3", "control")):
        exposures.record(exposure(user, f"exp-a:{arm}"))
        await events.store(
            [(event("impression", user), f"exp-a:{arm}"), (event("click", user), f"exp-a:{arm}")], 1
        )
    exposures.record(exposure("qa", "exp-a:treatment*", forced=True))
    exposures.record(exposure("named", "exp-a:control", override=True))
    # u3 is later seen in the other arm (a weight change moved them): left out.
    await events.store([(event("impression", "u3"), "exp-a:treatment")], 1)
    await exposures.flush()
    report = await build_report(redis_client, redis_prefix, cfg, "exp-a", 1)
    assert report["arms"]["control"]["users"] == 1 and report["arms"]["treatment"]["users"] == 1
    assert report["excluded_users"] == {"forced": 1, "override": 1, "seen_in_two_arms": 1}
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
