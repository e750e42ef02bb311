"""The soak at unit size: a few thousand users' commands and events through the stores, Redis's memory flat
once the bounds bite (`make soak` runs it with 100,000 users). On a Redis of its own, as `make soak` does:
the suite's shared Redis holds other tests' keys, whose writes and expiries would move the figure."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from loadtest.soak_redis import FILLED, HEADER, growth_after, soak
from recgpt_tools import redis_server


@pytest.fixture
async def scratch_redis(tmp_path: Path) -> AsyncIterator[aioredis.Redis]:
    port = redis_server.free_port()
    process = redis_server.start(port, tmp_path, tmp_path / "redis.log")
    try:
        redis_server.wait_ready(port, 10.0, process)
        client = aioredis.Redis.from_url(f"redis://127.0.0.1:{port}/0", decode_responses=True)
        try:
            yield client
        finally:
            await client.aclose()
    finally:
        process.terminate()
        process.wait(timeout=10)


async def test_memory_is_flat_once_the_bounds_bite(scratch_redis: aioredis.Redis) -> None:
    users = 2000
    samples = await soak(scratch_redis, "soak", users, rounds=6)
    print(f"\n{users} users\n{HEADER}\n" + "\n".join(sample.line() for sample in samples))
    # Two rounds fill the bounds (history turns, two rounds of events); each sample is taken after the 1 s
    # dedup markers expired, so later rounds add nothing lasting.
    assert growth_after(samples, FILLED) < 0.1
    assert all(sample.events <= 2 * 2 * users + 200 for sample in samples)  # two rounds, a node of slack
    assert samples[-1].keys <= samples[2].keys  # every round's dedup markers gone once their TTL passed
