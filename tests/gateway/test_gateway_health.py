"""/healthz answers while the process lives; /readyz only while every dependency answers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
from grpc_health.v1 import health_pb2

from gateway.clients import RETRIEVAL_SERVICE, GatewayDeps
from tests.gateway.gateway_fakes import FakeRetrievalServer


async def test_healthz(gateway: httpx.AsyncClient) -> None:
    response = await gateway.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_ready_when_every_dependency_answers(gateway: httpx.AsyncClient) -> None:
    response = await gateway.get("/readyz")

    assert response.status_code == 200, response.text
    assert response.json() == {
        "ready": True,
        "checks": {"redis": "ok", "retrieval": "ok"},
        "failed": [],
    }


async def test_not_ready_when_retrieval_is_down(
    gateway: httpx.AsyncClient, retrieval_server: FakeRetrievalServer
) -> None:
    await retrieval_server.stop()

    response = await gateway.get("/readyz")

    assert response.status_code == 503
    body = response.json()
    assert body["failed"] == ["retrieval"]
    assert body["checks"]["retrieval"].startswith("UNAVAILABLE")
    assert body["checks"]["redis"] == "ok"
    # Still alive: a dependency's outage must not get the gateway restarted.
    assert (await gateway.get("/healthz")).status_code == 200


async def test_not_ready_while_retrieval_is_not_serving(
    gateway: httpx.AsyncClient, retrieval_server: FakeRetrievalServer
) -> None:
    await retrieval_server.service.health.set(RETRIEVAL_SERVICE, health_pb2.HealthCheckResponse.NOT_SERVING)

    response = await gateway.get("/readyz")

    assert response.status_code == 503
    assert response.json()["checks"]["retrieval"] == "NOT_SERVING"


async def test_not_ready_when_redis_is_down(
    gateway_factory: Callable[..., Any], deps_without_redis: GatewayDeps
) -> None:
    gateway = await gateway_factory(deps=deps_without_redis)
    response = await gateway.get("/readyz")

    assert response.status_code == 503
    assert response.json()["failed"] == ["redis"]
