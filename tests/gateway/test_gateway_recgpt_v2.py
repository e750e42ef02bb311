"""Variant recgpt-v2: served as recgpt-v1 is, from the V2 profiles (personas as interests) under their own
key, with misses queued on V2's own refresh queue, and the meta-prompted explanations of the request's
situation, V1's texts filling their misses."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import grpc
import httpx
import pytest
import redis.asyncio as aioredis

from gateway.pipelines.explanations import Explainer
from gateway.pipelines.recgpt_v1 import RecGptV1Pipeline
from gateway.pipelines.recgpt_v2 import MethodProfiles, RecGptV2Pipeline
from recgpt.explain.v1 import explain_pb2
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
from recgpt_domain.situation import Situation
from tests.gateway.gateway_fakes import (
    FakeExplain,
    FakeRetrievalServer,
    FakeServer,
    Fault,
    explanation_text,
    meta_prompted_text,
)
from tests.gateway.recgpt_v1_helpers import URL, sample, store_profile

V2 = {"variant": "recgpt-v2"}
PERSONA = "Runs a school biology lab"
OTHER_PERSONA = "Keeps a reef aquarium"
SERVED = "recgpt_explanations_served_total"


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
    v1_explainer = RecGptV1Pipeline(
        None,  # type: ignore[arg-type]
        MethodProfiles(profiles, METHOD_V2),
        RefreshQueue(redis_client, "p", METHOD_V2),
        None,  # type: ignore[arg-type]
        Explainer(None, None),  # type: ignore[arg-type]
        None,  # type: ignore[arg-type]
        None,  # type: ignore[arg-type]
    )
    with pytest.raises(ValueError, match="SituatedExplainer"):
        RecGptV2Pipeline(v1_explainer)


async def store_v2_profile(client: aioredis.Redis, prefix: str, user_id: str) -> None:
    """Two personas, each with its tag, and a tag whose interest is no persona (as the V1 path's are)."""
    await ProfileStore(client, prefix).put(
        UserProfile(
            user_id=user_id,
            method=METHOD_V2,
            interests=[ProfileInterest(interest=PERSONA), ProfileInterest(interest=OTHER_PERSONA)],
            tags=[
                ProfileTag(tag="compact microscope", interest=PERSONA, category="Microscopes"),
                ProfileTag(tag="coral food", interest=OTHER_PERSONA, category="Aquarium"),
                ProfileTag(tag="nitrile gloves", interest="lab safety", category="Gloves"),
            ],
            model="test-model",
            prompt_version="planner=p;experts=e;arbiter=a",
        )
    )


def moments(before: float, after: float) -> set[tuple[str, str]]:
    """The (season, time of day) a request made between the two clock readings may have been served for."""
    return {(s.season, s.time_of_day) for s in (Situation.at_unix(before), Situation.at_unix(after))}


async def test_v2_texts_are_asked_for_the_situation_and_v1s_fill_only_their_misses(
    v2_gateway: httpx.AsyncClient,
    explain_server: FakeServer[FakeExplain],
    redis_client: aioredis.Redis,
    redis_prefix: str,
) -> None:
    await store_v2_profile(redis_client, redis_prefix, "ann")
    # The fake's tag route deals items 36, 37, 38, ... to the three tags in turn.
    explain_server.servicer.missing_v2.add("item-37")  # V1 has it
    explain_server.servicer.missing.add("item-38")  # neither has it
    served_before = {
        method: sample(SERVED, {"method": method}) for method in ("recgpt_v2", "recgpt_v1_next_best", "none")
    }

    before = time.time()
    response = await v2_gateway.post(URL, json={"user_id": "ann", "n": 10, **V2})
    after = time.time()

    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["profile"], body["degraded"]) == ("hit", [])
    interests = {item["item_id"]: item["interest"] for item in body["items"] if item["interest"]}
    assert {"item-36", "item-37", "item-38"} <= interests.keys()
    calls = [call.request for call in explain_server.servicer.calls_of("Explain")]
    assert all(request.cache_only for request in calls)
    *v2_calls, v1_call = calls
    # V2 first, one request per persona (a request carries one situation), each for the request's moment.
    assert {request.method for request in v2_calls} == {explain_pb2.METHOD_RECGPT_V2}
    assert {(r.situation["season"], r.situation["time_of_day"]) for r in v2_calls} <= moments(before, after)
    asked_for = {
        (pair.interest, pair.item_id): request.situation.get("persona", "")
        for request in v2_calls
        for pair in request.pairs
    }
    # The persona is the tag's when its interest is one of the profile's personas, else none.
    assert asked_for == {
        (interest, item_id): interest if interest in (PERSONA, OTHER_PERSONA) else ""
        for item_id, interest in interests.items()
    }
    assert set(asked_for.values()) == {PERSONA, OTHER_PERSONA, ""}
    # Then V1's texts for the V2 misses only: a V2 hit is not asked again.
    assert v1_call.method == explain_pb2.METHOD_RECGPT_V1
    assert dict(v1_call.situation) == {}
    assert {pair.item_id for pair in v1_call.pairs} == {"item-37", "item-38"}

    explained = {item["item_id"]: item["explanation"] for item in body["items"] if item["interest"]}
    assert explained["item-36"] == meta_prompted_text(PERSONA, "item-36")
    assert explained["item-37"] == explanation_text(OTHER_PERSONA, "item-37")
    assert explained["item-38"] is None
    v2_served = len(interests) - 2
    assert sample(SERVED, {"method": "recgpt_v2"}) == served_before["recgpt_v2"] + v2_served
    assert sample(SERVED, {"method": "recgpt_v1_next_best"}) == served_before["recgpt_v1_next_best"] + 1
    assert sample(SERVED, {"method": "none"}) == served_before["none"] + 1


async def test_a_page_of_v2_hits_asks_nothing_of_v1(
    v2_gateway: httpx.AsyncClient,
    explain_server: FakeServer[FakeExplain],
    redis_client: aioredis.Redis,
    redis_prefix: str,
) -> None:
    await store_v2_profile(redis_client, redis_prefix, "ann")

    body = (await v2_gateway.post(URL, json={"user_id": "ann", "n": 10, **V2})).json()

    methods = [call.request.method for call in explain_server.servicer.calls_of("Explain")]
    assert methods and set(methods) == {explain_pb2.METHOD_RECGPT_V2}
    tagged = [item for item in body["items"] if item["interest"]]
    assert tagged
    assert all(
        item["explanation"] == meta_prompted_text(item["interest"], item["item_id"]) for item in tagged
    )


async def test_a_failed_v2_read_is_not_followed_by_v1s(
    v2_gateway: httpx.AsyncClient,
    explain_server: FakeServer[FakeExplain],
    redis_client: aioredis.Redis,
    redis_prefix: str,
) -> None:
    """The service fails or the budget is spent: a second call would fail alike; the page says so once."""
    await store_v2_profile(redis_client, redis_prefix, "ann")
    explain_server.servicer.faults["Explain"] = Fault(code=grpc.StatusCode.INTERNAL)

    body = (await v2_gateway.post(URL, json={"user_id": "ann", "n": 10, **V2})).json()

    assert body["degraded"] == ["explain"]
    methods = {call.request.method for call in explain_server.servicer.calls_of("Explain")}
    assert methods == {explain_pb2.METHOD_RECGPT_V2}
    assert all(item["explanation"] is None for item in body["items"])
