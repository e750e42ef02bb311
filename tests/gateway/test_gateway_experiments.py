"""Experiments through the gateway: admin API, assignment, exposures, events, reports, bad input."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis

from experiments.events import iter_events
from experiments.exposures import iter_exposures, unpack
from gateway.app import Gateway
from gateway.clients import GatewayDeps
from tests.experiments.configs import two_arms
from tests.gateway.callers import INTERNAL


def config_body(**experiment: Any) -> dict[str, Any]:
    return {"layers": [{"name": "pipeline", "salt": "salt-1", "experiments": [two_arms(**experiment)]}]}


@pytest.fixture
async def gateway_with_admin(gateway_factory: Callable[..., Any]) -> httpx.AsyncClient:
    client: httpx.AsyncClient = await gateway_factory(exposure_flush_s=0.02)
    return client


async def test_admin_is_on_the_internal_listener_only(gateway_with_admin: httpx.AsyncClient) -> None:
    public = await gateway_with_admin.put("/v1/admin/experiments", json=config_body())
    internal = await gateway_with_admin.put(INTERNAL + "/v1/admin/experiments", json=config_body())
    assert public.status_code == 404
    assert internal.status_code == 200, internal.text


async def test_config_change_is_validated_kept_in_history_and_served(
    gateway_with_admin: httpx.AsyncClient,
) -> None:
    put = await gateway_with_admin.put(INTERNAL + "/v1/admin/experiments", json=config_body())
    assert put.status_code == 200, put.text
    revision = put.json()["revision"]
    bad = config_body()
    bad["layers"][0]["experiments"][0]["arms"][1]["params"] = {"variant": "recgpt-v9"}
    refused = await gateway_with_admin.put(INTERNAL + "/v1/admin/experiments", json=bad)
    assert refused.status_code == 422
    assert "unknown variant 'recgpt-v9'" in refused.json()["reason"]
    current = (await gateway_with_admin.get(INTERNAL + "/v1/admin/experiments/current")).json()
    assert current["revision"] == revision
    assert current["config"]["layers"][0]["experiments"][0]["arms"][1]["params"]["variant"] == "recgpt-v1"
    history = (await gateway_with_admin.get(INTERNAL + "/v1/admin/experiments/history")).json()
    assert [c["revision"] for c in history["changes"]][:1] == [revision]
    old = await gateway_with_admin.get(INTERNAL + f"/v1/admin/experiments/history?revision={revision}")
    assert old.status_code == 200 and old.json()["source"] == "admin-api"


async def test_redis_down_during_a_change_keeps_the_old_config(
    gateway_factory: Callable[..., Any], deps_without_redis: GatewayDeps, tmp_path: Path
) -> None:
    seed = tmp_path / "experiments.yaml"
    seed.write_text("layers:\n- name: pipeline\n  salt: s\n  experiments: []\n")
    client: httpx.AsyncClient = await gateway_factory(deps_without_redis, experiments_config_path=seed)
    response = await client.put(INTERNAL + "/v1/admin/experiments", json=config_body())
    assert response.status_code == 503
    assert "old config keeps serving" in response.json()["reason"]
    where = (await client.get("/v1/experiments/assignment", params={"user_id": "u1"})).json()
    assert where["arms"] == []


async def test_assignment_routes_recommendations_and_logs_exposures(
    gateway_with_admin: httpx.AsyncClient, redis_client: aioredis.Redis, redis_prefix: str
) -> None:
    await gateway_with_admin.put(INTERNAL + "/v1/admin/experiments", json=config_body())
    variants = {}
    for i in range(40):
        user = f"user-{i}"
        where = (await gateway_with_admin.get("/v1/experiments/assignment", params={"user_id": user})).json()
        answer = await gateway_with_admin.post("/v1/recommend", json={"user_id": user, "n": 5})
        assert answer.status_code == 200, answer.text
        variants[user] = answer.json()["variant"]
        assert where["params"]["variant"] == variants[user]
    assert set(variants.values()) == {"baseline", "recgpt-v1"}
    # A request that names its variant gets it, and its exposure says so.
    named = await gateway_with_admin.post("/v1/recommend", json={"user_id": "user-0", "variant": "recgpt-v1"})
    assert named.json()["variant"] == "recgpt-v1"
    app: Gateway = gateway_with_admin._transport.app  # type: ignore[attr-defined]
    await app.state.experiments.exposures.flush()
    exposures = [unpack(e["e"]) async for e in iter_exposures(redis_client, redis_prefix)]
    assert len(exposures) == 41
    assert sum(e["override"] == "1" for e in exposures) == 1
    assert all(e["arms"].startswith("exp-a:") for e in exposures)


def event(kind: str = "click", **fields: Any) -> dict[str, Any]:
    return {"event_id": uuid.uuid4().hex, "type": kind, "user_id": "user-1", "item_id": "item-1", **fields}


async def test_events_partial_acceptance_and_duplicates_once(
    gateway_with_admin: httpx.AsyncClient, redis_client: aioredis.Redis, redis_prefix: str
) -> None:
    await gateway_with_admin.put(INTERNAL + "/v1/admin/experiments", json=config_body())
    good, purchase = event(), event("purchase", price=12.5)
    batch = [good, purchase, event("teleport"), event("purchase"), {"nonsense": True}, good]
    response = await gateway_with_admin.post("/v1/events", json={"events": batch})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["stored"] == [good["event_id"], purchase["event_id"]]
    assert body["duplicates"] == [good["event_id"]]
    assert [r["index"] for r in body["rejected"]] == [2, 3, 4]
    assert "price is required" in body["rejected"][1]["reason"]
    again = (await gateway_with_admin.post("/v1/events", json={"events": [good]})).json()
    assert again["stored"] == [] and again["duplicates"] == [good["event_id"]]
    stored = [e async for e in iter_events(redis_client, redis_prefix)]
    assert [e["id"] for e in stored] == [good["event_id"], purchase["event_id"]]
    assert stored[0]["arms"].startswith("exp-a:")
    only_bad = await gateway_with_admin.post("/v1/events", json={"events": [event("teleport")]})
    assert only_bad.status_code == 422
    too_many = await gateway_with_admin.post("/v1/events", json={"events": [event()] * 201})
    assert too_many.status_code == 422


async def test_events_without_redis_are_a_503(
    gateway_factory: Callable[..., Any], deps_without_redis: GatewayDeps
) -> None:
    client: httpx.AsyncClient = await gateway_factory(deps_without_redis)
    response = await client.post("/v1/events", json={"events": [event()]})
    assert response.status_code == 503 and "retry" in response.json()["reason"]


async def test_report_json_and_html_and_unknown_experiment(gateway_with_admin: httpx.AsyncClient) -> None:
    await gateway_with_admin.put(INTERNAL + "/v1/admin/experiments", json=config_body())
    for i in range(30):
        user = f"user-{i}"
        page = (await gateway_with_admin.post("/v1/recommend", json={"user_id": user, "n": 3})).json()
        events = [
            {**event("impression", item_id=item["item_id"]), "user_id": user} for item in page["items"]
        ] + [{**event("click", item_id=page["items"][0]["item_id"]), "user_id": user}] * (i % 2)
        await gateway_with_admin.post("/v1/events", json={"events": events})
    app: Gateway = gateway_with_admin._transport.app  # type: ignore[attr-defined]
    await app.state.experiments.exposures.flush()
    report = (await gateway_with_admin.get(INTERNAL + "/v1/experiments/exp-a/report")).json()
    arms = report["arms"]
    assert arms["control"]["users"] + arms["treatment"]["users"] == 30
    assert arms["control"]["totals"]["impressions"] + arms["treatment"]["totals"]["impressions"] == 90
    assert "ctr" in report["lift"]["treatment"] and report["srm"]["p_value"] > 0
    page = await gateway_with_admin.get(INTERNAL + "/v1/experiments/exp-a/report", params={"format": "html"})
    assert page.status_code == 200 and "chart-ctr" in page.text
    missing = await gateway_with_admin.get(INTERNAL + "/v1/experiments/nope/report")
    assert missing.status_code == 404 and "unknown experiment" in missing.json()["reason"]


async def test_experiments_off_assign_and_log_nothing(
    gateway_factory: Callable[..., Any], redis_client: aioredis.Redis, redis_prefix: str
) -> None:
    client: httpx.AsyncClient = await gateway_factory(experiments_enabled=False, exposure_flush_s=0.02)
    await client.put(INTERNAL + "/v1/admin/experiments", json=config_body())
    variants = set()
    for i in range(20):
        answer = await client.post("/v1/recommend", json={"user_id": f"user-{i}", "n": 3})
        assert answer.status_code == 200
        variants.add(answer.json()["variant"])
    app: Gateway = client._transport.app  # type: ignore[attr-defined]
    await app.state.experiments.exposures.flush()
    assert variants == {"baseline"}
    assert await redis_client.xlen(f"{redis_prefix}:{{experiments}}:exposures") == 0


async def test_arm_adapters_are_validated(gateway_with_admin: httpx.AsyncClient) -> None:
    body = config_body()
    body["layers"][0]["experiments"][0]["arms"][1]["params"]["adapters"] = {"tag_predictor": "newest"}
    assert (await gateway_with_admin.put(INTERNAL + "/v1/admin/experiments", json=body)).status_code == 200
    where = (await gateway_with_admin.get("/v1/experiments/assignment", params={"user_id": "user-3"})).json()
    assert where["params"].get("adapters") in (None, {"tag_predictor": "newest"})
    body["layers"][0]["experiments"][0]["arms"][1]["params"]["adapters"] = {"planner": "newest"}
    assert (await gateway_with_admin.put(INTERNAL + "/v1/admin/experiments", json=body)).status_code == 422


async def test_a_naive_start_time_is_refused(gateway_with_admin: httpx.AsyncClient) -> None:
    naive = await gateway_with_admin.put(
        INTERNAL + "/v1/admin/experiments", json=config_body(start="2026-11-28T12:00:00")
    )
    aware = await gateway_with_admin.put(
        INTERNAL + "/v1/admin/experiments", json=config_body(start="2026-11-28T12:00:00Z")
    )
    assert naive.status_code == 422 and "timezone" in naive.json()["reason"]
    assert aware.status_code == 200, aware.text


async def test_a_weight_change_starts_a_phase_and_each_is_readable(
    gateway_with_admin: httpx.AsyncClient,
) -> None:
    await gateway_with_admin.put(INTERNAL + "/v1/admin/experiments", json=config_body())
    await gateway_with_admin.put(INTERNAL + "/v1/admin/experiments", json=config_body(split=3000))
    report = INTERNAL + "/v1/experiments/exp-a/report"
    current = await gateway_with_admin.get(report)
    first = await gateway_with_admin.get(report, params={"phase": 1})
    beyond = await gateway_with_admin.get(report, params={"phase": 3})
    assert current.status_code == 200 and first.status_code == 200, (current.text, first.text)
    assert len(current.json()["phases"]) == 2
    assert current.json()["phase"] != first.json()["phase"]
    assert beyond.status_code == 404


async def test_reports_past_the_cap_get_a_fast_503(gateway_with_admin: httpx.AsyncClient) -> None:
    await gateway_with_admin.put(INTERNAL + "/v1/admin/experiments", json=config_body())
    app: Gateway = gateway_with_admin._transport.app  # type: ignore[attr-defined]
    slots = app.state.report_slots
    async with slots, slots:  # the default two slots, held as by two long reports
        busy = await gateway_with_admin.get(INTERNAL + "/v1/experiments/exp-a/report")
    free = await gateway_with_admin.get(INTERNAL + "/v1/experiments/exp-a/report")
    assert busy.status_code == 503 and busy.headers["retry-after"] == "5"
    assert "report slot" in busy.json()["reason"]
    assert free.status_code == 200
