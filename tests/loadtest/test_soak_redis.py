"""The soak at unit size: a few thousand users' commands and events through the stores, Redis's memory flat
once the bounds bite (`make soak` runs it with 100,000 users)."""

from __future__ import annotations

import redis.asyncio as aioredis

from loadtest.soak_redis import HEADER, growth_after, soak


async def test_memory_is_flat_once_the_bounds_bite(redis_client: aioredis.Redis, redis_prefix: str) -> None:
    users = 2000
    samples = await soak(redis_client, redis_prefix, users, rounds=5)
    print(f"\n{users} users\n{HEADER}\n" + "\n".join(sample.line() for sample in samples))
    # Two rounds fill the bounds (history turns, two rounds of events); later rounds add nothing lasting.
    assert growth_after(samples, 2) < 0.1
    assert all(sample.events <= 2 * 2 * users + 200 for sample in samples)  # two rounds, a node of slack
    assert samples[-1].keys <= samples[2].keys + 2 * 2 * users  # dedup markers of one round at most
