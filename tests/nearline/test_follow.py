"""Follow mode: users the gateway queued are refreshed as they come, at least once each; a failed user is
retried, then dead-lettered; a stop finishes the users in flight and leaves the rest queued, and hands back
those that do not finish within its grace."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from pathlib import Path

import httpx
import pytest
import redis.asyncio as aioredis

from nearline.adaptive import ConcurrencyLimiter
from nearline.cli import amain
from nearline.follow import QueueFollower
from nearline.job import Freshness, NearlineJob, Tally
from nearline.refresh import ReasonedRefresher
from nearline.settings import NearlineSettings
from recgpt_domain.profile_store import ProfileStore
from recgpt_domain.refresh_queue import RefreshQueue, RetryPolicy
from recgpt_serving.service_stubs import ServiceStubs
from recgpt_tools import redis_server
from tests.evaluation.fake_services import MODEL, Seen, fake_platform
from tests.nearline.fake_refreshers import GatedEngine, InMemoryProfiles
from tests.nearline.fake_targets import CURRENT, point_at
from tests.polling import until

# Leases and backoffs that lapse within a test.
FAST_RETRY = RetryPolicy(lease_s=0.3, backoff_s=0.05, backoff_max_s=0.05, max_attempts=2)


def settings_for(target: str, redis_url: str, prefix: str, concurrency: int) -> NearlineSettings:
    return NearlineSettings(
        redis_url=redis_url,
        redis_prefix=prefix,
        intent_target=target,
        tags_target=target,
        retrieval_target=target,
        explain_target=target,
        concurrency=concurrency,
    )


class Following:
    """A follower on the fake platform, in this process."""

    def __init__(
        self,
        settings: NearlineSettings,
        queue: RefreshQueue,
        profiles: ProfileStore,
        stop_grace_s: float = 20.0,
    ) -> None:
        self.stubs = ServiceStubs(settings)
        refresher = ReasonedRefresher(self.stubs, settings)
        job = NearlineJob(refresher, profiles, Freshness(MODEL, "v", 3600), settings.concurrency)
        self.follower = QueueFollower(
            job, refresher, queue, poll_s=0.05, consumer="test-worker", stop_grace_s=stop_grace_s
        )
        self.stop = asyncio.Event()
        self.running = asyncio.create_task(self.follower.run(self.stop))

    async def stopped(self) -> Tally:
        self.stop.set()
        tally = await asyncio.wait_for(self.running, 10)
        await self.stubs.close()
        return tally


async def test_queued_users_are_refreshed_until_stopped(
    redis_client: aioredis.Redis, redis_url: str, redis_prefix: str
) -> None:
    profiles = ProfileStore(redis_client, redis_prefix)
    queue = RefreshQueue(redis_client, redis_prefix, retry=FAST_RETRY)
    async with fake_platform() as (target, _):
        following = Following(settings_for(target, redis_url, redis_prefix, 4), queue, profiles)
        for user_id in ("a", "b"):
            await queue.enqueue(user_id)

        async def both_stored() -> bool:
            return all([await profiles.get("a"), await profiles.get("b")])

        await until(both_stored)
        await queue.enqueue("c")
        await until(lambda: _has_profile(profiles, "c"))
        tally = await following.stopped()
    assert (tally.done, tally.failed) == (3, 0)
    assert (await queue.depth(), await queue.pending()) == (0, 0)
    assert not [key async for key in redis_client.scan_iter(match=f"{queue.keys.base}:queued:*")]


async def _has_profile(profiles: ProfileStore, user_id: str) -> bool:
    return await profiles.get(user_id) is not None


async def test_stop_finishes_users_in_flight_and_leaves_the_rest_queued(
    redis_client: aioredis.Redis, redis_url: str, redis_prefix: str
) -> None:
    profiles = ProfileStore(redis_client, redis_prefix)
    queue = RefreshQueue(redis_client, redis_prefix, retry=FAST_RETRY)
    for user_id in ("a", "b", "c", "d"):
        await queue.enqueue(user_id)
    async with fake_platform(intent_delay_s=0.3) as (target, seen):
        following = Following(settings_for(target, redis_url, redis_prefix, 1), queue, profiles)
        await until(lambda: _intent_called(seen))
        tally = await following.stopped()
    # "a" was in flight: it finishes and is acknowledged. The worker takes only what it can start, so the
    # others were never taken: they wait in the queue, held by nobody.
    assert (tally.done, tally.failed) == (1, 0)
    assert [r.user_id for r in seen.of("MineInterests")] == ["a"]
    assert await profiles.get("a") is not None
    assert (await queue.depth(), await queue.pending()) == (3, 0)
    assert [entry.user_id for entry in await queue.take("next", 10)] == ["b", "c", "d"]


async def test_a_refresh_outlasting_the_stop_grace_is_handed_back_to_the_next_worker(
    redis_client: aioredis.Redis, redis_url: str, redis_prefix: str
) -> None:
    profiles = ProfileStore(redis_client, redis_prefix)
    # A lease far longer than the test: the entry is due again only because it was released.
    queue = RefreshQueue(redis_client, redis_prefix, retry=RetryPolicy(lease_s=600, backoff_s=600))
    await queue.enqueue("slow")
    async with fake_platform(intent_delay_s=30) as (target, seen):
        following = Following(
            settings_for(target, redis_url, redis_prefix, 1), queue, profiles, stop_grace_s=0.1
        )
        await until(lambda: _intent_called(seen))
        tally = await following.stopped()
    assert (tally.done, tally.failed) == (0, 0)
    assert await profiles.get("slow") is None
    # Still queued, held by nobody who works on it: the next worker's reclaim takes it at once, and the
    # delivery cut short does not count as an attempt.
    reclaimed = await queue.reclaim("next", 10)
    assert [(entry.user_id, entry.attempts) for entry in reclaimed.entries] == [("slow", 1)]
    assert not reclaimed.dead


async def _intent_called(seen: Seen) -> bool:
    return bool(seen.of("MineInterests"))


async def test_the_follower_takes_only_what_the_adaptive_limit_leaves_free(
    redis_client: aioredis.Redis, redis_prefix: str
) -> None:
    queue = RefreshQueue(redis_client, redis_prefix, retry=FAST_RETRY)
    for user in range(12):
        await queue.enqueue(str(user))
    engine = GatedEngine()
    limiter = ConcurrencyLimiter(8, 2)
    job = NearlineJob(engine, InMemoryProfiles(), Freshness(MODEL, "v", 3600, force=True), 8, limiter=limiter)
    follower = QueueFollower(job, engine, queue, poll_s=0.05, consumer="test-worker")
    stop = asyncio.Event()
    running = asyncio.create_task(follower.run(stop))

    async def next_users_running(ended: set[str], expected: int) -> int:
        """How many users run once those that ended have left and at least `expected` others started (the
        entries of one take all start in the same turn: a follower past the limit shows more at once)."""
        await until(lambda: len(engine.running) >= expected and ended.isdisjoint(engine.running))
        return len(engine.running)

    # A follower that took as many as the maximum would have started eight.
    assert await next_users_running(set(), 2) == 2
    assert await queue.pending() == 2
    # Two answers by the LLM at a limit of 2: one more at once.
    ended = set(engine.running)
    engine.end_all(fallback=False)
    assert await next_users_running(ended, 3) == 3
    assert (limiter.limit, await queue.pending()) == (3, 3)
    # All three time out together: halved once (to 1, not to 1 three times over), one user at a time.
    ended = set(engine.running)
    engine.end_all(fallback=True)
    assert await next_users_running(ended, 1) == 1
    assert (limiter.limit, await queue.pending()) == (1, 1)

    stop.set()
    engine.end_all(fallback=False)
    tally = await asyncio.wait_for(running, 10)
    assert (tally.done, tally.fallback) == (3, 3)
    assert (await queue.depth(), await queue.pending()) == (12 - 6, 0)


async def test_a_failing_user_is_retried_then_dead_lettered_with_the_reason(
    redis_client: aioredis.Redis, redis_url: str, redis_prefix: str
) -> None:
    profiles = ProfileStore(redis_client, redis_prefix)
    queue = RefreshQueue(redis_client, redis_prefix, retry=FAST_RETRY)
    await queue.enqueue("bad")
    await queue.enqueue("good")
    async with fake_platform(fail_users={"bad"}) as (target, seen):
        following = Following(settings_for(target, redis_url, redis_prefix, 2), queue, profiles)

        async def dead_lettered() -> bool:
            return bool(await queue.dead_letters())

        await until(dead_lettered)
        tally = await following.stopped()
    [letter] = await queue.dead_letters()
    assert (letter.user_id, letter.attempts, letter.reason) == ("bad", 2, "INTERNAL: boom")
    assert [r.user_id for r in seen.of("MineInterests")].count("bad") == FAST_RETRY.max_attempts
    assert await profiles.get("good") is not None
    assert (tally.done, tally.failed) == (1, 2)
    assert (await queue.depth(), await queue.pending()) == (0, 0)


@pytest.mark.usefixtures("environment")
async def test_follow_command_serves_metrics_and_stops_on_sigterm(
    redis_client: aioredis.Redis, redis_prefix: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    profiles = ProfileStore(redis_client, redis_prefix)
    port = redis_server.free_port()
    monkeypatch.setenv("RECGPT_METRICS_PORT", str(port))
    monkeypatch.setenv("RECGPT_FOLLOW_POLL_S", "0.05")
    out = tmp_path / "summary.json"
    async with fake_platform() as (target, _):
        point_at(target, monkeypatch)
        running = asyncio.create_task(amain(["--follow", "--json", str(out)], prompt_version=CURRENT))
        await RefreshQueue(redis_client, redis_prefix).enqueue("u1")
        await until(lambda: _has_profile(profiles, "u1"))
        async with httpx.AsyncClient(trust_env=False) as http:
            scraped = (await http.get(f"http://127.0.0.1:{port}/metrics")).text
        assert 'recgpt_nearline_users_total{outcome="done"}' in scraped
        assert 'recgpt_refresh_queue_entries_total{event="taken"}' in scraped
        assert 'recgpt_refresh_queue_depth{method="recgpt-v1"}' in scraped
        assert "recgpt_nearline_concurrency_limit " in scraped
        os.kill(os.getpid(), signal.SIGTERM)
        assert await asyncio.wait_for(running, 10) == 0
    summary = json.loads(out.read_text())
    assert summary["users_done"] == 1
    # RECGPT_CONCURRENCY_START's default, under the default maximum; one answer alone does not fill it.
    assert (summary["concurrency_limit_final"], summary["concurrency_limit_lowest"]) == (4, 4)


async def test_follower_survives_redis_being_away_until_stopped() -> None:
    unreachable = aioredis.Redis.from_url(f"redis://127.0.0.1:{redis_server.free_port()}/0")
    settings = settings_for("127.0.0.1:1", "redis://unused", "p", 1)
    stubs = ServiceStubs(settings)
    refresher = ReasonedRefresher(stubs, settings)
    job = NearlineJob(refresher, ProfileStore(unreachable, "p"), Freshness(MODEL, "v", 3600), 1)
    follower = QueueFollower(job, refresher, RefreshQueue(unreachable, "p"), poll_s=0.05, retry_s=0.05)
    stop = asyncio.Event()
    asyncio.get_running_loop().call_later(0.3, stop.set)
    async with asyncio.timeout(5):
        tally = await follower.run(stop)
    assert (tally.done, tally.failed) == (0, 0)
    await stubs.close()
    await unreachable.aclose()
