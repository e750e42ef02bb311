"""With a Redis of their own for the caches (RECGPT_CACHE_REDIS_URL), the gateway reads profiles there and
nowhere else: the state Redis holds no profile, and one left in it is not served."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import redis.asyncio as aioredis

from tests.gateway.gateway_fakes import FakeExplain, FakeServer
from tests.gateway.recgpt_v1_helpers import URL, store_profile

V1 = {"variant": "recgpt-v1"}


async def test_profiles_are_read_from_the_caches_redis_when_one_is_given(
    gateway_factory: Callable[..., Any],
    explain_server: FakeServer[FakeExplain],
    redis_client: aioredis.Redis,
    redis_prefix: str,
    cache_redis_url: str,
) -> None:
    caches = aioredis.from_url(cache_redis_url)
    try:
        await store_profile(caches, redis_prefix, "cat")
        await store_profile(redis_client, redis_prefix, "dan")
        gateway = await gateway_factory(explain_target=explain_server.target, cache_redis_url=cache_redis_url)

        served = await gateway.post(URL, json={"user_id": "cat", "n": 10, **V1})
        stale = await gateway.post(URL, json={"user_id": "dan", "n": 10, **V1})

        assert served.status_code == stale.status_code == 200, (served.text, stale.text)
        assert served.json()["profile"] == "hit"
        assert stale.json()["profile"] == "miss"
    finally:
        await caches.aclose()
