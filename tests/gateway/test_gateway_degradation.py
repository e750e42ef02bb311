"""Retrieval or Redis failing or slow: the answer says what it lacks, or a 503 with the reason."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import grpc
import httpx
import redis.asyncio as aioredis
from prometheus_client import REGISTRY

from gateway.clients import GatewayDeps
from gateway.pipelines import Recommendation
from gateway.schemas import RecommendRequest
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


async def test_slow_routes_call_is_cut_at_its_deadline(
    gateway_factory: Callable[..., Any],
    retrieval_server: FakeRetrievalServer,
    redis_client: aioredis.Redis,
    redis_prefix: str,
) -> None:
    user = await known_user(redis_client, redis_prefix)
    retrieval_server.servicer.faults["UserRoutes"] = Fault(delay_s=2.0)
    gateway = await gateway_factory(retrieval_deadline_s=0.1, request_deadline_s=0.25)
    before = degradations("retrieval.collaborative")

    start = time.perf_counter()
    response = await gateway.post(URL, json={"user_id": user, "n": 10})
    elapsed = time.perf_counter() - start

    assert response.status_code == 200, response.text
    body = response.json()
    # The one call carried both routes: both are named, and the last-resort page answers.
    assert sorted(body["degraded"]) == ["retrieval", "retrieval.collaborative", "retrieval.content"]
    assert {item["route"] for item in body["items"]} == {"popular"}
    assert degradations("retrieval.collaborative") == before + 1
    assert elapsed < 1.0


async def test_both_routes_failing_without_a_last_resort_page_is_503_with_reason(
    gateway_factory: Callable[..., Any],
    retrieval_server: FakeRetrievalServer,
    redis_client: aioredis.Redis,
    redis_prefix: str,
) -> None:
    user = await known_user(redis_client, redis_prefix)
    faults = retrieval_server.servicer.faults
    faults["Popular"] = Fault(code=grpc.StatusCode.UNAVAILABLE)
    faults["UserRoutes"] = Fault(code=grpc.StatusCode.UNAVAILABLE)
    gateway = await gateway_factory(retrieval_deadline_s=0.1, request_deadline_s=0.25, last_resort=False)

    response = await gateway.post(URL, json={"user_id": user, "n": 10})

    assert response.status_code == 503
    body = response.json()
    assert "no route could answer" in body["reason"]
    assert sorted(body["degraded"]) == ["retrieval.collaborative", "retrieval.content"]
    assert body["request_id"] == response.headers["x-request-id"]


async def test_both_routes_failing_answer_the_last_resort_page(
    gateway_factory: Callable[..., Any],
    retrieval_server: FakeRetrievalServer,
    redis_client: aioredis.Redis,
    redis_prefix: str,
) -> None:
    # Retrieval, which reads the user's behaviour, is down: the page is the popular items as they are.
    history = [Interaction(item_id=f"item-{i}") for i in (1, 2, 50, 51)]
    await behaviour_store.BehaviourStore(redis_client, redis_prefix).append("erin", history)
    gateway = await gateway_factory(retrieval_deadline_s=0.1, request_deadline_s=0.25)
    retrieval_server.servicer.faults["UserRoutes"] = Fault(code=grpc.StatusCode.UNAVAILABLE)
    before = degradations("retrieval")

    response = await gateway.post(URL, json={"user_id": "erin", "n": 10})

    assert response.status_code == 200, response.text
    body = response.json()
    assert sorted(body["degraded"]) == ["retrieval", "retrieval.collaborative", "retrieval.content"]
    assert [item["item_id"] for item in body["items"]] == [f"item-{i}" for i in range(50, 60)]
    assert {item["route"] for item in body["items"]} == {"popular"}
    assert degradations("retrieval") == before + 1


async def test_retrieval_process_gone_answers_the_last_resort_page(
    gateway: httpx.AsyncClient,
    retrieval_server: FakeRetrievalServer,
    redis_client: aioredis.Redis,
    redis_prefix: str,
) -> None:
    user = await known_user(redis_client, redis_prefix)
    await retrieval_server.stop()

    for user_id in (user, "nobody-knows-me"):
        for variant in ("baseline", "recgpt-v1"):
            response = await gateway.post(URL, json={"user_id": user_id, "n": 5, "variant": variant})

            assert response.status_code == 200, response.text
            body = response.json()
            assert {"retrieval", "retrieval.collaborative"} <= set(body["degraded"])
            assert [item["item_id"] for item in body["items"]] == [f"item-{i}" for i in range(50, 55)]


async def test_retrieval_answering_without_the_users_behaviour_is_named(
    gateway: httpx.AsyncClient,
    retrieval_server: FakeRetrievalServer,
    redis_client: aioredis.Redis,
    redis_prefix: str,
) -> None:
    user = await known_user(redis_client, redis_prefix)
    retrieval_server.servicer.behaviour_unread = True
    before = degradations("redis.behaviour")

    response = await gateway.post(URL, json={"user_id": user, "n": 10})

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["degraded"] == ["redis.behaviour"]
    # The collaborative route's items are the popular ones (50-79), and labelled so.
    assert {
        item["route"] for item in body["items"] if item["item_id"] in {f"item-{i}" for i in range(70, 80)}
    } <= {"popular"}
    assert "collaborative" not in {route for item in body["items"] for route in item["route"].split("+")}
    assert degradations("redis.behaviour") >= before + 1


def failures(dependency: str, reason: str) -> float:
    value = REGISTRY.get_sample_value(
        "recgpt_dependency_failures_total",
        {"service": "gateway", "dependency": dependency, "reason": reason},
    )
    return value or 0.0


async def test_a_dependency_shedding_load_degrades_the_answer(
    gateway: httpx.AsyncClient,
    retrieval_server: FakeRetrievalServer,
    redis_client: aioredis.Redis,
    redis_prefix: str,
) -> None:
    user = await known_user(redis_client, redis_prefix)
    retrieval_server.servicer.faults["UserRoutes"] = Fault(code=grpc.StatusCode.RESOURCE_EXHAUSTED)
    before = failures("retrieval.collaborative", "RESOURCE_EXHAUSTED")

    response = await gateway.post(URL, json={"user_id": user, "n": 10})

    assert response.status_code == 200, response.text
    assert "retrieval.collaborative" in response.json()["degraded"]
    assert failures("retrieval.collaborative", "RESOURCE_EXHAUSTED") == before + 1
    # Shed calls are not retried: retrying would only add to the load that made the service shed them.
    assert len(retrieval_server.servicer.calls_of("UserRoutes")) == 1


async def test_the_baseline_needs_no_redis_of_the_gateways_own(
    gateway_factory: Callable[..., Any],
    deps_without_redis: GatewayDeps,
    redis_client: aioredis.Redis,
    redis_prefix: str,
) -> None:
    """Retrieval reads the user's behaviour: the gateway's Redis failing leaves the baseline whole."""
    user = await known_user(redis_client, redis_prefix, "dave")
    gateway = await gateway_factory(deps=deps_without_redis)
    response = await gateway.post(URL, json={"user_id": user, "n": 5})

    assert response.status_code == 200, response.text
    body = response.json()
    # The gateway reads only the feed preferences itself: their failure is named, the page is whole.
    assert body["degraded"] == ["redis.preferences"]
    assert len(body["items"]) == 5
    assert not {item["item_id"] for item in body["items"]} & {f"item-{i}" for i in range(5)}


class Stuck:
    """A pipeline that never answers in time (an event loop starved by a busy machine looks the same)."""

    name = "baseline"

    async def recommend(self, request: RecommendRequest) -> Recommendation:
        await asyncio.sleep(60)
        raise AssertionError("not cancelled at the deadline")


async def test_a_request_past_its_deadline_answers_the_last_resort_page(
    gateway_factory: Callable[..., Any],
) -> None:
    gateway = await gateway_factory(retrieval_deadline_s=0.05, request_deadline_s=0.1)
    app = gateway._transport.app
    app.state.pipelines.pipelines["baseline"] = Stuck()
    before = degradations("deadline")

    response = await gateway.post(URL, json={"user_id": "gus", "n": 3})

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["degraded"] == ["deadline", "retrieval"]
    assert [item["item_id"] for item in body["items"]] == ["item-50", "item-51", "item-52"]
    assert degradations("deadline") == before + 1
