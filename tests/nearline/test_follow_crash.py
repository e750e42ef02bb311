"""The refresh queue loses nothing: `recgpt-nearline --follow` killed with SIGKILL in the middle of a batch,
then started again, still refreshes every queued user, and leaves the queue empty with nothing pending."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import redis.asyncio as aioredis

import nearline
from recgpt_domain.profile_store import ProfileStore
from recgpt_domain.refresh_queue import GROUP, RefreshQueue
from recgpt_tools import redis_server
from tests.evaluation.fake_services import MODEL, fake_platform
from tests.polling import until

USERS = [f"user-{index:02d}" for index in range(24)]
CONCURRENCY = 4
# Long enough that a batch is surely in flight when the kill comes.
INTENT_DELAY_S = 0.4
LEASE_S = 1.0
SERVICES = Path(nearline.__file__).resolve().parents[1]


@asynccontextmanager
async def worker(target: str, redis_url: str, prefix: str) -> AsyncIterator[asyncio.subprocess.Process]:
    """`recgpt-nearline --follow` as its own process, pointed at the fakes; stopped (if alive) on exit."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(SERVICES), str(SERVICES.parent)]),
        "REDIS_URL": redis_url,
        "RECGPT_REDIS_PREFIX": prefix,
        "RECGPT_LLM_MODEL": MODEL,
        "RECGPT_LOG_LEVEL": "WARNING",
        "RECGPT_CONCURRENCY": str(CONCURRENCY),
        "RECGPT_FOLLOW_POLL_S": "0.05",
        # A dead worker's entries are taken again once untouched for the lease (or the first backoff, if
        # longer: its death counts as a failed attempt).
        "RECGPT_REFRESH_LEASE_S": str(LEASE_S),
        "RECGPT_REFRESH_BACKOFF_S": str(LEASE_S),
        "RECGPT_METRICS_PORT": str(redis_server.free_port()),
        **{f"RECGPT_{name}_TARGET": target for name in ("RETRIEVAL", "INTENT", "TAGS", "EXPLAIN")},
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "nearline.cli", "--follow", "--no-progress", env=env
    )
    try:
        yield process
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def test_a_worker_killed_mid_batch_loses_no_user(
    redis_client: aioredis.Redis, redis_url: str, redis_prefix: str
) -> None:
    profiles = ProfileStore(redis_client, redis_prefix)
    queue = RefreshQueue(redis_client, redis_prefix)
    for user_id in USERS:
        await queue.enqueue(user_id)

    async def stored() -> int:
        return sum([await profiles.get(user_id) is not None for user_id in USERS])

    async with fake_platform(intent_delay_s=INTENT_DELAY_S) as (target, seen):
        async with worker(target, redis_url, redis_prefix) as first:

            async def mid_batch() -> bool:
                return await stored() >= CONCURRENCY and await queue.pending() > 0

            await until(mid_batch, timeout_s=60)
            first.send_signal(signal.SIGKILL)
            assert await first.wait() == -signal.SIGKILL

        # The dead worker held a batch it never finished, and some users were not even taken yet.
        held = await redis_client.xpending_range(queue.keys.stream(), GROUP, min="-", max="+", count=100)
        done_before_restart = await stored()
        assert held and done_before_restart < len(USERS)

        async with worker(target, redis_url, redis_prefix) as second:

            async def drained() -> bool:
                return (
                    await stored() == len(USERS) and await queue.depth() == 0 and await queue.pending() == 0
                )

            await until(drained, timeout_s=60)
            second.send_signal(signal.SIGTERM)
            assert await second.wait() == 0

    refreshed = [request.user_id for request in seen.of("MineInterests")]
    assert set(refreshed) == set(USERS)
    # At least once: the users the dead worker held were refreshed again by the new one.
    assert {row["message_id"] for row in held} and len(refreshed) >= len(USERS)
    assert await queue.dead_letters() == []
    assert not [key async for key in redis_client.scan_iter(match=f"{queue.keys.base}:queued:*")]
    # Both workers joined the group; the stopped one is forgotten only once silent for the policy's hour.
    assert len(await redis_client.xinfo_consumers(queue.keys.stream(), GROUP)) == 2
