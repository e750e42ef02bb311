"""Variant recgpt-v1: the profile's tag route fused on top of the baseline's routes, cached explanations, and
the baseline whenever the profile is missing or unreadable or the tag route is given no weight."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import grpc
import httpx
import pytest
import redis.asyncio as aioredis

from gateway.clients import GatewayDeps
from recgpt.explain.v1 import explain_pb2
from recgpt.retrieval.v1 import retrieval_pb2
from recgpt_domain.behaviour_store import BehaviourStore
from recgpt_domain.catalogue import Interaction
from recgpt_domain.refresh_queue import RefreshQueue
from tests.gateway.gateway_fakes import (
    FakeExplain,
    FakeRetrievalServer,
    FakeServer,
    Fault,
    explanation_text,
)
from tests.gateway.recgpt_v1_helpers import URL, sample, store_profile

V1 = {"variant": "recgpt-v1"}


@pytest.fixture
async def v1_gateway(
    gateway_factory: Callable[..., Any], explain_server: FakeServer[FakeExplain]
) -> httpx.AsyncClient:
    client: httpx.AsyncClient = await gateway_factory(
        explain_target=explain_server.target, recgpt_v1_beta=0.3
    )
    return client


async def test_hit_fuses_the_tag_route_with_beta_and_explains_each_tagged_item(
    v1_gateway: httpx.AsyncClient,
    retrieval_server: FakeRetrievalServer,
    explain_server: FakeServer[FakeExplain],
    redis_client: aioredis.Redis,
    redis_prefix: str,
) -> None:
    await store_profile(redis_client, redis_prefix, "ann")
    await BehaviourStore(redis_client, redis_prefix).append("ann", [Interaction(item_id="item-41")])
    hits_before = sample("recgpt_cache_requests_total", {"cache": "profile", "result": "hit"})

    response = await v1_gateway.post(URL, json={"user_id": "ann", "n": 25, **V1})

    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["variant"], body["profile"], body["degraded"]) == ("recgpt-v1", "hit", [])
    items = {item["item_id"]: item for item in body["items"]}
    assert len(items) == 25
    assert "item-41" not in items  # seen: the guard drops it even though the fake route returned it
    # beta = 0.3 of the baseline (collaborative 0.6, content 0.4) and 0.7 of the tag route: item-36 is first
    # of the tag route (1.0), 37th of the collaborative one (6.4 / 10) and 7th of the content one (9.4 / 10).
    first = body["items"][0]
    assert first["item_id"] == "item-36"
    assert first["score"] == pytest.approx(0.3 * (0.6 * 0.64 + 0.4 * 0.94) + 0.7 * 1.0)
    assert first["route"] == "collaborative+content+tag"
    assert (first["tag"], first["interest"]) == ("compact microscope", "biology at home")
    assert first["explanation"] == explanation_text("biology at home", "item-36")
    assert (items["item-37"]["tag"], items["item-37"]["interest"]) == ("nitrile gloves", "lab safety")
    assert items["item-40"]["route"] == "content+tag"
    assert items["item-40"]["score"] == pytest.approx(0.3 * 0.4 * 0.9 + 0.7 * 0.96)
    # Baseline-only items come last, with beta's share of the baseline and nothing to explain them.
    baseline_only = [item for item in body["items"] if "tag" not in item["route"]]
    assert baseline_only and body["items"][-len(baseline_only) :] == baseline_only
    assert all(item["tag"] is item["explanation"] is None for item in baseline_only)

    [search] = retrieval_server.servicer.calls_of("Search")
    assert [tag.tag for tag in search.request.tags.tags] == ["compact microscope", "nitrile gloves"]
    assert search.request.per_query_top_k == 10
    assert search.request.exclude_seen_of_user == "ann"
    [explain] = explain_server.servicer.calls_of("Explain")
    assert explain.request.cache_only is True
    assert explain.request.method == explain_pb2.METHOD_RECGPT_V1
    assert {pair.item_id for pair in explain.request.pairs} == {
        item_id for item_id, item in items.items() if item["interest"]
    }
    assert sample("recgpt_cache_requests_total", {"cache": "profile", "result": "hit"}) == hits_before + 1


@pytest.mark.parametrize(("use_artefact", "collaborative_share"), [(True, 0.3 * 0.5), (False, 0.9 * 0.6)])
async def test_the_learned_routes_answer_brings_its_artefacts_beta(
    gateway_factory: Callable[..., Any],
    explain_server: FakeServer[FakeExplain],
    retrieval_server: FakeRetrievalServer,
    redis_client: aioredis.Redis,
    redis_prefix: str,
    use_artefact: bool,
    collaborative_share: float,
) -> None:
    """The beta and baseline weights the answering model chose on its validation slice (0.3; 0.5
    collaborative) win over the settings' (0.9; 0.6)."""
    await store_profile(redis_client, redis_prefix, "ann")
    await BehaviourStore(redis_client, redis_prefix).append("ann", [Interaction(item_id="item-41")])
    retrieval_server.servicer.towers_fusion = retrieval_pb2.TowersFusion(
        beta=0.3, collaborative_weight=0.5, content_weight=0.5
    )
    gateway = await gateway_factory(
        explain_target=explain_server.target, recgpt_v1_beta=0.9, towers_fusion=use_artefact
    )

    body = (await gateway.post(URL, json={"user_id": "ann", "n": 100, **V1})).json()

    # item-0 is first of the collaborative route only: its score is beta's share of that route's weight.
    scores = {item["item_id"]: item["score"] for item in body["items"]}
    assert scores["item-0"] == pytest.approx(collaborative_share)


async def test_a_tag_route_of_no_weight_serves_exactly_the_baselines_page(
    gateway_factory: Callable[..., Any],
    explain_server: FakeServer[FakeExplain],
    retrieval_server: FakeRetrievalServer,
    redis_client: aioredis.Redis,
    redis_prefix: str,
) -> None:
    """beta = 1 (validation gave the tag route no weight): recgpt-v1 cannot differ from the baseline."""
    await store_profile(redis_client, redis_prefix, "ann")
    await BehaviourStore(redis_client, redis_prefix).append("ann", [Interaction(item_id="item-41")])
    retrieval_server.servicer.towers_fusion = retrieval_pb2.TowersFusion(
        beta=1.0, collaborative_weight=0.5, content_weight=0.2, cooccurrence_weight=0.3
    )
    gateway = await gateway_factory(explain_target=explain_server.target, recgpt_v1_beta=0.3)

    v1 = (await gateway.post(URL, json={"user_id": "ann", "n": 25, **V1})).json()
    baseline = (await gateway.post(URL, json={"user_id": "ann", "n": 25, "variant": "baseline"})).json()

    assert (v1["variant"], v1["profile"]) == ("recgpt-v1", "hit")
    assert v1["items"] == baseline["items"]
    assert {part for item in v1["items"] for part in item["route"].split("+")} >= {"collaborative", "content"}


async def test_the_tag_route_joins_every_route_of_the_baseline(
    gateway_factory: Callable[..., Any],
    explain_server: FakeServer[FakeExplain],
    retrieval_server: FakeRetrievalServer,
    redis_client: aioredis.Redis,
    redis_prefix: str,
) -> None:
    """Co-occurrence and content stay in recgpt-v1's page: the tag route is added, nothing dropped."""
    await store_profile(redis_client, redis_prefix, "ann")
    await BehaviourStore(redis_client, redis_prefix).append("ann", [Interaction(item_id="item-41")])
    retrieval_server.servicer.towers_fusion = retrieval_pb2.TowersFusion(
        beta=0.8, collaborative_weight=0.5, content_weight=0.2, cooccurrence_weight=0.3
    )
    gateway = await gateway_factory(explain_target=explain_server.target)

    body = (await gateway.post(URL, json={"user_id": "ann", "n": 100, **V1})).json()

    routes = {part for item in body["items"] for part in item["route"].split("+")}
    assert routes == {"collaborative", "content", "cooccurrence", "tag"}
    scores = {item["item_id"]: item["score"] for item in body["items"]}
    # item-0: first of the collaborative route alone (0.8 * 0.5); item-70: 21st of co-occurrence alone (0.8).
    assert scores["item-0"] == pytest.approx(0.8 * 0.5)
    assert scores["item-70"] == pytest.approx(0.8 * 0.3 * 0.8)


async def test_miss_serves_the_baseline_and_queues_the_user_once(
    v1_gateway: httpx.AsyncClient,
    retrieval_server: FakeRetrievalServer,
    redis_client: aioredis.Redis,
    redis_prefix: str,
) -> None:
    history = [Interaction(item_id=f"item-{i}") for i in range(5)]
    await BehaviourStore(redis_client, redis_prefix).append("newbie", history)
    misses = sample("recgpt_cache_requests_total", {"cache": "profile", "result": "miss"})
    refreshes = {
        outcome: sample("recgpt_profile_refresh_requests_total", {"outcome": outcome})
        for outcome in ("queued", "already_queued")
    }
    for _ in range(2):
        response = await v1_gateway.post(URL, json={"user_id": "newbie", "n": 5, **V1})
        assert response.status_code == 200, response.text
        body = response.json()
        assert (body["profile"], body["degraded"]) == ("miss", [])
        assert {item["route"] for item in body["items"]} <= {
            "collaborative",
            "content",
            "collaborative+content",
        }
        assert all(item["tag"] is None and item["explanation"] is None for item in body["items"])

    queue = RefreshQueue(redis_client, redis_prefix)
    assert [entry.user_id for entry in await queue.take("worker", 10)] == ["newbie"]
    assert sample("recgpt_cache_requests_total", {"cache": "profile", "result": "miss"}) == misses + 2
    for outcome, before in refreshes.items():
        assert sample("recgpt_profile_refresh_requests_total", {"outcome": outcome}) == before + 1
    # The baseline's routes, one call each time; no tag search without a profile.
    assert len(retrieval_server.servicer.calls_of("UserRoutes")) == 2
    assert retrieval_server.servicer.calls_of("Search") == []


async def test_profile_without_tags_serves_the_baseline_without_queueing(
    v1_gateway: httpx.AsyncClient, redis_client: aioredis.Redis, redis_prefix: str
) -> None:
    await store_profile(redis_client, redis_prefix, "bare", tags=[])
    await BehaviourStore(redis_client, redis_prefix).append("bare", [Interaction(item_id="item-1")])

    body = (await v1_gateway.post(URL, json={"user_id": "bare", "n": 5, **V1})).json()

    assert body["profile"] == "hit"
    assert all(item["tag"] is None for item in body["items"])
    assert await RefreshQueue(redis_client, redis_prefix).depth() == 0


async def test_a_profile_from_fallback_answers_is_served_but_named_so(
    v1_gateway: httpx.AsyncClient, redis_client: aioredis.Redis, redis_prefix: str
) -> None:
    await store_profile(redis_client, redis_prefix, "fell-back", fallback=True)

    body = (await v1_gateway.post(URL, json={"user_id": "fell-back", "n": 5, **V1})).json()

    assert (body["profile"], body["degraded"]) == ("fallback", [])
    assert any(item["tag"] for item in body["items"])


async def test_redis_down_is_profile_unavailable_and_the_baseline_answers(
    gateway_factory: Callable[..., Any], deps_without_redis: GatewayDeps
) -> None:
    gateway = await gateway_factory(deps=deps_without_redis)

    response = await gateway.post(URL, json={"user_id": "dave", "n": 5, **V1})

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["profile"] == "unavailable"
    assert "redis.profile" in body["degraded"]
    assert {item["route"] for item in body["items"]} == {"collaborative"}


async def test_explain_timeout_answers_without_explanations_within_the_deadline(
    gateway_factory: Callable[..., Any],
    explain_server: FakeServer[FakeExplain],
    redis_client: aioredis.Redis,
    redis_prefix: str,
) -> None:
    await store_profile(redis_client, redis_prefix, "ann")
    explain_server.servicer.faults["Explain"] = Fault(delay_s=1.0)
    gateway = await gateway_factory(
        explain_target=explain_server.target,
        explain_deadline_s=0.05,
        request_deadline_s=0.5,
        recgpt_v1_beta=0.3,
    )

    start = time.perf_counter()
    response = await gateway.post(URL, json={"user_id": "ann", "n": 10, **V1})
    elapsed = time.perf_counter() - start

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["degraded"] == ["explain"]
    assert body["profile"] == "hit"
    assert any(item["tag"] for item in body["items"])
    assert all(item["explanation"] is None for item in body["items"])
    assert elapsed < 0.5


async def test_explain_failure_or_no_explain_service_is_no_explanations(
    gateway_factory: Callable[..., Any],
    explain_server: FakeServer[FakeExplain],
    redis_client: aioredis.Redis,
    redis_prefix: str,
) -> None:
    await store_profile(redis_client, redis_prefix, "ann")
    explain_server.servicer.faults["Explain"] = Fault(code=grpc.StatusCode.INTERNAL)
    failing = await gateway_factory(explain_target=explain_server.target, recgpt_v1_beta=0.3)
    without = await gateway_factory(recgpt_v1_beta=0.3)

    failed = (await failing.post(URL, json={"user_id": "ann", "n": 5, **V1})).json()
    unconfigured = (await without.post(URL, json={"user_id": "ann", "n": 5, **V1})).json()

    assert failed["degraded"] == ["explain"]
    assert unconfigured["degraded"] == []
    for body in (failed, unconfigured):
        assert all(item["explanation"] is None and item["tag"] for item in body["items"])


async def test_a_cache_miss_leaves_only_that_item_unexplained(
    v1_gateway: httpx.AsyncClient,
    explain_server: FakeServer[FakeExplain],
    redis_client: aioredis.Redis,
    redis_prefix: str,
) -> None:
    await store_profile(redis_client, redis_prefix, "ann")
    explain_server.servicer.missing.add("item-37")

    body = (await v1_gateway.post(URL, json={"user_id": "ann", "n": 5, **V1})).json()

    explained = {item["item_id"]: item["explanation"] for item in body["items"]}
    assert explained["item-37"] is None
    assert explained["item-36"] == explanation_text("biology at home", "item-36")
    assert body["degraded"] == []
    # V1 asks V1's texts once, with no situation, and has no next-best read for its misses (V2 has).
    [explain] = explain_server.servicer.calls_of("Explain")
    assert explain.request.method == explain_pb2.METHOD_RECGPT_V1
    assert dict(explain.request.situation) == {}


async def test_tag_route_failure_degrades_to_the_baselines_routes(
    v1_gateway: httpx.AsyncClient,
    retrieval_server: FakeRetrievalServer,
    explain_server: FakeServer[FakeExplain],
    redis_client: aioredis.Redis,
    redis_prefix: str,
) -> None:
    await store_profile(redis_client, redis_prefix, "ann")
    await BehaviourStore(redis_client, redis_prefix).append("ann", [Interaction(item_id="item-41")])
    retrieval_server.servicer.faults["Search"] = Fault(code=grpc.StatusCode.INTERNAL)

    response = await v1_gateway.post(URL, json={"user_id": "ann", "n": 10, **V1})
    baseline = (await v1_gateway.post(URL, json={"user_id": "ann", "n": 10, "variant": "baseline"})).json()

    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["profile"], body["degraded"]) == ("hit", ["retrieval.tag"])
    # The baseline's ranking (its scores scaled by beta).
    assert [item["item_id"] for item in body["items"]] == [item["item_id"] for item in baseline["items"]]
    assert [item["route"] for item in body["items"]] == [item["route"] for item in baseline["items"]]
    assert explain_server.servicer.calls_of("Explain") == []  # nothing carries an interest


async def test_both_routes_failing_answer_the_last_resort_page(
    v1_gateway: httpx.AsyncClient,
    retrieval_server: FakeRetrievalServer,
    redis_client: aioredis.Redis,
    redis_prefix: str,
) -> None:
    await store_profile(redis_client, redis_prefix, "ann")
    retrieval_server.servicer.faults["Search"] = Fault(code=grpc.StatusCode.INTERNAL)
    retrieval_server.servicer.faults["UserRoutes"] = Fault(code=grpc.StatusCode.UNAVAILABLE)

    response = await v1_gateway.post(URL, json={"user_id": "ann", "n": 10, **V1})

    assert response.status_code == 200, response.text
    body = response.json()
    assert sorted(body["degraded"]) == [
        "retrieval",
        "retrieval.collaborative",
        "retrieval.content",
        "retrieval.tag",
    ]
    assert {item["route"] for item in body["items"]} == {"popular"}
    assert len(body["items"]) == 10


async def test_both_routes_failing_without_a_last_resort_page_is_503(
    gateway_factory: Callable[..., Any],
    retrieval_server: FakeRetrievalServer,
    redis_client: aioredis.Redis,
    redis_prefix: str,
) -> None:
    await store_profile(redis_client, redis_prefix, "ann")
    retrieval_server.servicer.faults["Popular"] = Fault(code=grpc.StatusCode.UNAVAILABLE)
    retrieval_server.servicer.faults["Search"] = Fault(code=grpc.StatusCode.INTERNAL)
    retrieval_server.servicer.faults["UserRoutes"] = Fault(code=grpc.StatusCode.UNAVAILABLE)
    gateway = await gateway_factory(last_resort=False)

    response = await gateway.post(URL, json={"user_id": "ann", "n": 10, **V1})

    assert response.status_code == 503
    degraded = sorted(response.json()["degraded"])
    assert degraded == ["retrieval.collaborative", "retrieval.content", "retrieval.tag"]


async def test_variant_is_chosen_per_request_and_unknown_ones_are_422(
    gateway: httpx.AsyncClient, redis_client: aioredis.Redis, redis_prefix: str
) -> None:
    await store_profile(redis_client, redis_prefix, "ann")

    default = (await gateway.post(URL, json={"user_id": "ann", "n": 3})).json()
    baseline = (await gateway.post(URL, json={"user_id": "ann", "n": 3, "variant": "baseline"})).json()
    unknown = await gateway.post(URL, json={"user_id": "ann", "n": 3, "variant": "recgpt-v9"})

    for body in (default, baseline):
        assert (body["variant"], body["profile"]) == ("baseline", None)
    assert unknown.status_code == 422
    assert "variant" in unknown.json()["reason"]


async def test_readiness_checks_only_the_critical_dependencies(gateway_factory: Callable[..., Any]) -> None:
    # Nothing listens on port 1: explain and judge are optional, so the gateway is still ready.
    gateway = await gateway_factory(explain_target="127.0.0.1:1", judge_target="127.0.0.1:1")

    response = await gateway.get("/readyz")

    assert response.status_code == 200, response.text
    assert set(response.json()["checks"]) == {"redis", "retrieval"}
