"""POST /v1/recommend on the happy path: distinct unseen items, fusion, cold start, request ids."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis

from gateway.schemas import RecommendResponse
from recgpt.retrieval.v1 import retrieval_pb2
from recgpt_domain.behaviour_store import BehaviourStore
from recgpt_domain.catalogue import Interaction
from tests.gateway.gateway_fakes import FakeRetrievalServer

# Oldest first. The first five fall outside the 20 recent items, so only the seen-set check removes them;
# 11 and 36 are among the fake's collaborative answers, 36 and 45 among its content answers.
HISTORY = [11, 36, 45, 60, 61, *range(10), *range(30, 35), *range(40, 45)]


async def write_history(client: aioredis.Redis, prefix: str, user_id: str) -> set[str]:
    ids = [f"item-{i}" for i in HISTORY]
    await BehaviourStore(client, prefix).append(user_id, [Interaction(item_id=i) for i in ids])
    return set(ids)


async def test_known_user_gets_n_distinct_unseen_items(
    gateway: httpx.AsyncClient, redis_client: aioredis.Redis, redis_prefix: str
) -> None:
    seen = await write_history(redis_client, redis_prefix, "alice")

    response = await gateway.post("/v1/recommend", json={"user_id": "alice", "n": 20})

    assert response.status_code == 200, response.text
    body = RecommendResponse.model_validate(response.json())
    ids = [item.item_id for item in body.items]
    assert len(ids) == 20
    assert len(set(ids)) == 20
    assert not set(ids) & seen
    assert body.user_id == "alice"
    assert body.variant == "baseline"
    assert body.cold_start is False
    assert body.degraded == []
    scores = [item.score for item in body.items]
    assert scores == sorted(scores, reverse=True)
    assert all(item.title and item.category.startswith("Category ") for item in body.items)


async def test_items_found_by_both_routes_rank_first_with_both_names(
    gateway: httpx.AsyncClient, redis_client: aioredis.Redis, redis_prefix: str
) -> None:
    await write_history(redis_client, redis_prefix, "alice")

    body = (await gateway.post("/v1/recommend", json={"user_id": "alice", "n": 20})).json()

    routes = {item["item_id"]: item["route"] for item in body["items"]}
    # 35, 37, 38, 39 are the unseen items both fake routes return.
    assert {routes.get(f"item-{i}") for i in (35, 37, 38, 39)} == {"collaborative+content"}
    assert body["items"][0]["route"] == "collaborative+content"
    assert set(routes.values()) <= {"collaborative", "content", "collaborative+content"}


@pytest.mark.parametrize("use_artefact", [True, False])
async def test_the_learned_routes_answer_is_fused_with_its_artefacts_weights(
    gateway_factory: Callable[..., Any],
    retrieval_server: FakeRetrievalServer,
    redis_client: aioredis.Redis,
    redis_prefix: str,
    use_artefact: bool,
) -> None:
    """Weights chosen on the model's validation slice (here: collaborative alone) win over the settings'
    unless the operator turns them off."""
    await write_history(redis_client, redis_prefix, "alice")
    retrieval_server.servicer.towers_fusion = retrieval_pb2.TowersFusion(
        beta=0.2, collaborative_weight=1.0, content_weight=0.0
    )
    gateway = await gateway_factory(towers_fusion=use_artefact)

    body = (await gateway.post("/v1/recommend", json={"user_id": "alice", "n": 40})).json()

    routes = {item["route"] for item in body["items"]}
    assert (routes == {"collaborative"}) is use_artefact
    assert ("content" in routes) is not use_artefact


async def test_co_occurrence_beside_the_learned_route_is_fused_with_its_weight(
    gateway_factory: Callable[..., Any],
    retrieval_server: FakeRetrievalServer,
    redis_client: aioredis.Redis,
    redis_prefix: str,
) -> None:
    """The fake's co-occurrence list (items 50-79) joins the learned and content routes (0-69)."""
    await write_history(redis_client, redis_prefix, "alice")
    retrieval_server.servicer.towers_fusion = retrieval_pb2.TowersFusion(
        beta=0.2, collaborative_weight=0.4, content_weight=0.2, cooccurrence_weight=0.4
    )
    gateway = await gateway_factory()

    body = (await gateway.post("/v1/recommend", json={"user_id": "alice", "n": 60})).json()

    items = {item["item_id"]: item for item in body["items"]}
    assert items["item-70"]["route"] == "cooccurrence"
    assert items["item-70"]["score"] < items["item-50"]["score"]  # 50-69 are content's too
    assert items["item-50"]["route"] == "content+cooccurrence"


async def test_one_retrieval_call_carries_both_routes(
    gateway: httpx.AsyncClient,
    redis_client: aioredis.Redis,
    redis_prefix: str,
    retrieval_server: FakeRetrievalServer,
) -> None:
    await write_history(redis_client, redis_prefix, "alice")

    await gateway.post("/v1/recommend", json={"user_id": "alice", "n": 5})

    fake = retrieval_server.servicer
    # One retrieval call carries both routes; retrieval reads the recent items itself.
    [routes] = fake.calls_of("UserRoutes")
    assert routes.request.user_id == "alice"
    assert routes.request.top_k >= 10
    assert routes.request.recent_items == 20
    assert not routes.request.skip_content
    assert fake.calls_of("Collaborative") == fake.calls_of("Search") == []


async def test_unknown_user_gets_a_cold_start_answer(
    gateway: httpx.AsyncClient, retrieval_server: FakeRetrievalServer
) -> None:
    retrieval_server.servicer.cold_users.add("stranger")

    response = await gateway.post("/v1/recommend", json={"user_id": "stranger", "n": 7})

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["cold_start"] is True
    assert len(body["items"]) == 7
    assert {item["route"] for item in body["items"]} == {"popular"}
    # One call, and nothing to seed the content route with.
    assert len(retrieval_server.servicer.calls_of("UserRoutes")) == 1


async def test_request_id_reaches_retrieval_metadata_header_and_body(
    gateway: httpx.AsyncClient, retrieval_server: FakeRetrievalServer
) -> None:
    response = await gateway.post(
        "/v1/recommend", json={"user_id": "bob", "n": 3}, headers={"X-Request-Id": "req-abc.123"}
    )

    assert response.status_code == 200
    assert response.headers["x-request-id"] == "req-abc.123"
    assert response.json()["request_id"] == "req-abc.123"
    [call] = retrieval_server.servicer.calls_of("UserRoutes")
    assert call.metadata["x-request-id"] == "req-abc.123"
    assert call.metadata["x-user-id"] == "bob"


async def test_invalid_request_id_is_replaced_by_a_fresh_one(
    gateway: httpx.AsyncClient, retrieval_server: FakeRetrievalServer
) -> None:
    response = await gateway.post(
        "/v1/recommend", json={"user_id": "bob", "n": 3}, headers={"X-Request-Id": "x" * 200}
    )

    request_id = response.headers["x-request-id"]
    assert request_id != "x" * 200
    assert len(request_id) == 32
    assert response.json()["request_id"] == request_id
    [call] = retrieval_server.servicer.calls_of("UserRoutes")
    assert call.metadata["x-request-id"] == request_id


async def test_context_is_accepted(gateway: httpx.AsyncClient) -> None:
    response = await gateway.post(
        "/v1/recommend",
        json={"user_id": "bob", "n": 2, "context": {"page": "home", "slot": 3, "price": 9.5}},
    )
    assert response.status_code == 200, response.text
