"""Retrieval or Redis failing or slow: the other route answers and says so, or a 503 with the reason."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import grpc
import httpx
import redis.asyncio as aioredis
from prometheus_client import REGISTRY

from gateway.clients import GatewayDeps
from recgpt_domain import behaviour_store
from recgpt_domain.catalogue import Interaction
from tests.gateway.gateway_fakes import FakeRetrievalServer, Fault

URL = "/v1/recommend"


async def known_user(client: aioredis.Redis, prefix: str, user_id: str = "carol") -> str:
    history = [Interaction(item_id=f"item-{i}") for i in range(5)]
    await behaviour_store.BehaviourStore(client, prefix).append(user_id, history)
    return user_id


def degradations(dependency: str) -> float:
    value = REGISTRY.get_sample_value(
        "recgpt_degradations_total", {"service": "gateway", "dependency": dependency}
    )
    return value or 0.0


async def test_collaborative_down_content_still_answers(
    gateway: httpx.AsyncClient,
    retrieval_server: FakeRetrievalServer,
    redis_client: aioredis.Redis,
    redis_prefix: str,
) -> None:
    user = await known_user(redis_client, redis_prefix)
    retrieval_server.servicer.faults["Collaborative"] = Fault(code=grpc.StatusCode.INTERNAL)
    before = degradations("retrieval.collaborative")

    response = await gateway.post(URL, json={"user_id": user, "n": 10})

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["degraded"] == ["retrieval.collaborative"]
    assert len(body["items"]) == 10
    assert {item["route"] for item in body["items"]} == {"content"}
    assert degradations("retrieval.collaborative") == before + 1


async def test_slow_content_route_is_cut_at_its_deadline(
    gateway_factory: Callable[..., Any],
    retrieval_server: FakeRetrievalServer,
    redis_client: aioredis.Redis,
    redis_prefix: str,
) -> None:
    user = await known_user(redis_client, redis_prefix)
    retrieval_server.servicer.faults["Search"] = Fault(delay_s=2.0)
    gateway = await gateway_factory(retrieval_deadline_s=0.1, request_deadline_s=0.25)

    start = time.perf_counter()
    response = await gateway.post(URL, json={"user_id": user, "n": 10})
    elapsed = time.perf_counter() - start

    assert response.status_code == 200, response.text
    assert response.json()["degraded"] == ["retrieval.content"]
    assert {item["route"] for item in response.json()["items"]} == {"collaborative"}
    assert elapsed < 1.0


async def test_both_routes_failing_is_503_with_reason(
    gateway_factory: Callable[..., Any],
    retrieval_server: FakeRetrievalServer,
    redis_client: aioredis.Redis,
    redis_prefix: str,
) -> None:
    user = await known_user(redis_client, redis_prefix)
    faults = retrieval_server.servicer.faults
    faults["Collaborative"] = Fault(code=grpc.StatusCode.UNAVAILABLE)
    faults["Search"] = Fault(delay_s=2.0)
    gateway = await gateway_factory(retrieval_deadline_s=0.1, request_deadline_s=0.25)

    response = await gateway.post(URL, json={"user_id": user, "n": 10})

    assert response.status_code == 503
    body = response.json()
    assert "no route could answer" in body["reason"]
    assert sorted(body["degraded"]) == ["retrieval.collaborative", "retrieval.content"]
    assert body["request_id"] == response.headers["x-request-id"]


async def test_retrieval_process_gone_is_a_quick_503(
    gateway: httpx.AsyncClient,
    retrieval_server: FakeRetrievalServer,
    redis_client: aioredis.Redis,
    redis_prefix: str,
) -> None:
    user = await known_user(redis_client, redis_prefix)
    await retrieval_server.stop()

    for user_id in (user, "nobody-knows-me"):
        start = time.perf_counter()
        response = await gateway.post(URL, json={"user_id": user_id, "n": 5})
        elapsed = time.perf_counter() - start

        assert response.status_code == 503, response.text
        assert "retrieval.collaborative" in response.json()["degraded"]
        assert elapsed < 1.0


async def test_redis_down_collaborative_still_answers(
    gateway_factory: Callable[..., Any], deps_without_redis: GatewayDeps
) -> None:
    gateway = await gateway_factory(deps=deps_without_redis)
    response = await gateway.post(URL, json={"user_id": "dave", "n": 5})

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["degraded"] == ["redis"]
    assert {item["route"] for item in body["items"]} == {"collaborative"}
    assert len(body["items"]) == 5
