"""The caches' Redis, configured as the launcher starts it, keeps taking writes past its bound: it drops
answers (least recently used first, to the second) instead of refusing new ones, and stays in its bound."""

from __future__ import annotations

import redis.asyncio as aioredis

from explain.cache import CachedExplanation, ExplanationCache
from recgpt_domain.profile_store import ProfileInterest, ProfileStore, UserProfile

BOUND_BYTES = 4 * 2**20
PREFIX = "bound"


def _explanation(item_id: str) -> CachedExplanation:
    text = f"Because you keep buying lab glassware, {item_id} " + "fits your bench well. " * 60
    return CachedExplanation(text=text, interest="lab work", item_id=item_id, model="m", prompt_version="p")


def _profile(user_id: str) -> UserProfile:
    interests = [ProfileInterest(interest=f"interest {n} of {user_id}", reason="x" * 200) for n in range(5)]
    return UserProfile(user_id=user_id, interests=interests, tags=[], model="m", prompt_version="p")


async def test_past_its_bound_the_cache_evicts_the_oldest_answers_and_refuses_none(
    cache_redis_url: str,
) -> None:
    client = aioredis.from_url(cache_redis_url)
    cache = ExplanationCache(client, PREFIX, ttl_s=3600, fallback_ttl_s=60)
    profiles = ProfileStore(client, PREFIX)
    key = "v1", "m", "", "p", "lab work"
    try:
        # About 3x the bound: 6,000 explanations of ~1.4 KB and 60 profiles, every write acknowledged.
        for batch in range(60):
            items = [f"item-{batch}-{n}" for n in range(100)]
            await cache.put_many([(cache.key(*key, item), _explanation(item)) for item in items])
            await profiles.put(_profile(f"user-{batch}"))
        memory, stats = await client.info("memory"), await client.info("stats")
        assert stats["evicted_keys"] > 0 and await client.dbsize() < 6_060
        assert memory["maxmemory"] == BOUND_BYTES
        # Redis evicts before each command, so the last write may overshoot by itself.
        assert memory["used_memory"] <= BOUND_BYTES + 64 * 1024
        # LRU's clock ticks once a second, so keys written within one are equally old and any may go; those
        # written last have met the fewest evictions, and most of them are still read back whole.
        last = await cache.get_many([cache.key(*key, f"item-59-{n}") for n in range(100)])
        assert sum(entry is not None for entry in last) >= 50
        assert all(entry.item_id == f"item-59-{n}" for n, entry in enumerate(last) if entry is not None)
        assert any([await profiles.get(f"user-{batch}") is not None for batch in range(50, 60)])
    finally:
        await client.aclose()
