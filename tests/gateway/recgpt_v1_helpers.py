"""Shared set-up of the recgpt-v1 gateway tests: stored profiles and metric readings."""

from __future__ import annotations

import redis.asyncio as aioredis
from prometheus_client import REGISTRY

from recgpt_domain.profile_store import ProfileInterest, ProfileStore, ProfileTag, UserProfile

URL = "/v1/recommend"
TAGS = [
    ProfileTag(tag="compact microscope", interest="biology at home", rationale="looks at cells"),
    ProfileTag(tag="nitrile gloves", interest="lab safety"),
    # Dropped before retrieval: empty, and the first tag again in other case.
    ProfileTag(tag="  ", interest="nothing"),
    ProfileTag(tag="Compact Microscope", interest="biology at home"),
]


async def store_profile(
    client: aioredis.Redis,
    prefix: str,
    user_id: str,
    tags: list[ProfileTag] | None = None,
    fallback: bool = False,
) -> ProfileStore:
    store = ProfileStore(client, prefix)
    await store.put(
        UserProfile(
            user_id=user_id,
            interests=[ProfileInterest(interest="biology at home"), ProfileInterest(interest="lab safety")],
            tags=TAGS if tags is None else tags,
            model="test-model",
            prompt_version="interests=v1.0;tags=v1.0",
            fallback=fallback,
        )
    )
    return store


def sample(name: str, labels: dict[str, str]) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0
