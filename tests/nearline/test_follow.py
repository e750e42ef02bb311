"""Follow mode: users the gateway queued are refreshed as they come; a stop finishes those in flight."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import pytest
import redis.asyncio as aioredis

from nearline.cli import amain
from nearline.clients import Stubs
from nearline.job import Freshness, NearlineJob, from_refresh_queue
from nearline.refresh import ProfileRefresher
from nearline.settings import NearlineSettings
from recgpt_domain.profile_store import METHOD_V1, ProfileStore
from recgpt_tools import redis_server
from tests.evaluation.fake_services import MODEL, Seen, fake_platform
from tests.nearline.fake_targets import CURRENT, point_at


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


async def wait_for(condition: Callable[[], Awaitable[bool]], timeout_s: float = 10.0) -> None:
    """Polls: the state lives in Redis and in the fake servers, with no event to wait on."""
    async with asyncio.timeout(timeout_s):
        while not await condition():  # noqa: ASYNC110
            await asyncio.sleep(0.02)


async def test_queued_users_are_refreshed_until_stopped(
    redis_client: aioredis.Redis, redis_url: str, redis_prefix: str
) -> None:
    profiles = ProfileStore(redis_client, redis_prefix)
    async with fake_platform() as (target, _):
        settings = settings_for(target, redis_url, redis_prefix, concurrency=4)
        stubs = Stubs.connect(settings)
        job = NearlineJob(ProfileRefresher(stubs, settings), profiles, Freshness(MODEL, "v", 3600), 4)
        stop = asyncio.Event()
        running = asyncio.create_task(job.run(from_refresh_queue(profiles, stop, 0.05)))
        for user_id in ("a", "b"):
            await profiles.request_refresh(user_id)

        async def both_stored() -> bool:
            return all([await profiles.get("a"), await profiles.get("b")])

        await wait_for(both_stored)
        await profiles.request_refresh("c")
        await wait_for(lambda: _has_profile(profiles, "c"))
        stop.set()
        tally = await asyncio.wait_for(running, 5)
        await stubs.close()
    assert (tally.done, tally.failed) == (3, 0)
    assert await profiles.queued() == 0


async def _has_profile(profiles: ProfileStore, user_id: str) -> bool:
    return await profiles.get(user_id) is not None


async def test_stop_finishes_users_in_flight_and_requeues_the_rest(
    redis_client: aioredis.Redis, redis_url: str, redis_prefix: str
) -> None:
    profiles = ProfileStore(redis_client, redis_prefix)
    for user_id in ("a", "b", "c", "d"):
        await profiles.request_refresh(user_id)
    async with fake_platform(intent_delay_s=0.3) as (target, seen):
        settings = settings_for(target, redis_url, redis_prefix, concurrency=1)
        stubs = Stubs.connect(settings)
        job = NearlineJob(ProfileRefresher(stubs, settings), profiles, Freshness(MODEL, "v", 3600), 1)
        stop = asyncio.Event()
        users = from_refresh_queue(profiles, stop, 0.05)
        running = asyncio.create_task(job.run(users, stop=stop, on_leftover=profiles.request_refresh))
        await wait_for(lambda: _intent_called(seen))
        stop.set()
        tally = await asyncio.wait_for(running, 10)
        await stubs.close()
    # "a" was in flight and finishes; "b" and "c", taken from Redis but not started, go back on the queue
    # (after "d", which was never taken).
    assert (tally.done, tally.failed) == (1, 0)
    assert [r.user_id for r in seen.of("MineInterests")] == ["a"]
    assert await profiles.get("a") is not None
    assert await redis_client.lrange(profiles.keys.refresh_queue(METHOD_V1), 0, -1) == ["d", "b", "c"]
    assert await redis_client.smembers(profiles.keys.refresh_pending(METHOD_V1)) == {"b", "c", "d"}


async def _intent_called(seen: Seen) -> bool:
    return bool(seen.of("MineInterests"))


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
        await profiles.request_refresh("u1")
        await wait_for(lambda: _has_profile(profiles, "u1"))
        async with httpx.AsyncClient(trust_env=False) as http:
            scraped = (await http.get(f"http://127.0.0.1:{port}/metrics")).text
        assert 'recgpt_nearline_users_total{outcome="done"}' in scraped
        os.kill(os.getpid(), signal.SIGTERM)
        assert await asyncio.wait_for(running, 10) == 0
    assert json.loads(out.read_text())["users_done"] == 1


async def test_follower_survives_redis_being_away_until_stopped() -> None:
    unreachable = aioredis.Redis.from_url(f"redis://127.0.0.1:{redis_server.free_port()}/0")
    stop = asyncio.Event()
    users = from_refresh_queue(ProfileStore(unreachable, "p"), stop, poll_s=0.05, retry_s=0.05)
    asyncio.get_running_loop().call_later(0.3, stop.set)
    async with asyncio.timeout(5):
        assert [user async for user in users] == []
    await unreachable.aclose()
