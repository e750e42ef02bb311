"""Variant recgpt-v2: served as recgpt-v1 is, from the V2 profiles (personas as interests) under their own
key, with misses queued on V2's own refresh queue."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis

from gateway.pipelines.recgpt_v1 import RecGptV1Pipeline
from gateway.pipelines.recgpt_v2 import MethodProfiles, RecGptV2Pipeline
from recgpt_domain.behaviour_store import BehaviourStore
from recgpt_domain.catalogue import Interaction
from recgpt_domain.profile_store import (
    METHOD_V1,
    METHOD_V2,
    ProfileInterest,
    ProfileStore,
    ProfileTag,
    UserProfile,
)
from recgpt_domain.refresh_queue import RefreshQueue
from tests.gateway.gateway_fakes import FakeExplain, FakeRetrievalServer, FakeServer
from tests.gateway.recgpt_v1_helpers import URL, store_profile

V2 = {"variant": "recgpt-v2"}
PERSONA = "Runs a school biology lab"


@pytest.fixture
async def v2_gateway(
    gateway_factory: Callable[..., Any], explain_server: FakeServer[FakeExplain]
) -> httpx.AsyncClient:
    client: httpx.AsyncClient = await gateway_factory(
        explain_target=explain_server.target, recgpt_v1_beta=0.3
    )
    return client


async def test_a_v2_profile_drives_the_tag_route_and_v1s_profile_is_not_read(
    v2_gateway: httpx.AsyncClient,
    retrieval_server: FakeRetrievalServer,
    redis_client: aioredis.Redis,
    redis_prefix: str,
) -> None:
    await store_profile(
        redis_client, redis_prefix, "ann", tags=[ProfileTag(tag="nitrile gloves", interest="v1")]
    )
    await ProfileStore(redis_client, redis_prefix).put(
        UserProfile(
            user_id="ann",
            method=METHOD_V2,
            interests=[ProfileInterest(interest=PERSONA)],
            tags=[ProfileTag(tag="compact microscope", interest=PERSONA, category="Microscopes")],
            model="test-model",
            prompt_version="planner=p;experts=e;arbiter=a",
        )
    )
    await BehaviourStore(redis_client, redis_prefix).append("ann", [Interaction(item_id="item-41")])

    response = await v2_gateway.post(URL, json={"user_id": "ann", "n": 10, **V2})

    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["variant"], body["profile"], body["degraded"]) == ("recgpt-v2", "hit", [])
    [search] = retrieval_server.servicer.calls_of("Search")
    assert [tag.tag for tag in search.request.tags.tags] == ["compact microscope"]
    tagged = [item for item in body["items"] if item["tag"]]
    assert tagged and {item["interest"] for item in tagged} == {PERSONA}


async def test_a_miss_is_queued_on_v2s_own_queue(
    v2_gateway: httpx.AsyncClient, redis_client: aioredis.Redis, redis_prefix: str
) -> None:
    await store_profile(redis_client, redis_prefix, "bob")  # a V1 profile only
    await BehaviourStore(redis_client, redis_prefix).append("bob", [Interaction(item_id="item-1")])

    body = (await v2_gateway.post(URL, json={"user_id": "bob", "n": 5, **V2})).json()

    assert body["profile"] == "miss"
    assert await RefreshQueue(redis_client, redis_prefix, METHOD_V1).depth() == 0
    v2_queue = RefreshQueue(redis_client, redis_prefix, METHOD_V2)
    assert [entry.user_id for entry in await v2_queue.take("worker", 10)] == ["bob"]


def test_v2_refuses_to_be_built_over_another_methods_profiles_or_queue(redis_client: aioredis.Redis) -> None:
    profiles = ProfileStore(redis_client, "p")

    def over(store: ProfileStore, method: str) -> RecGptV1Pipeline:
        queue = RefreshQueue(redis_client, "p", method)
        return RecGptV1Pipeline(None, store, queue, None, None, None, None)  # type: ignore[arg-type]

    with pytest.raises(ValueError, match="METHOD_V2 profiles"):
        RecGptV2Pipeline(over(profiles, METHOD_V2))
    with pytest.raises(ValueError, match="METHOD_V2 queue"):
        RecGptV2Pipeline(over(MethodProfiles(profiles, METHOD_V2), METHOD_V1))
