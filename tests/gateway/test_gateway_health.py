"""/healthz answers while the process lives; /readyz while requests get items, naming what is down in
words that never echo an internal address."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import grpc
import httpx
from grpc_health.v1 import health_pb2

from gateway.clients import RETRIEVAL_SERVICE, GatewayDeps
from tests.gateway.gateway_fakes import FakeRetrievalServer, Fault

# host:port, an IP address or a URL: none may appear in a readiness body.
_ADDRESS = re.compile(r"\d+\.\d+\.\d+\.\d+|localhost|:\d{2,5}\b|://")


def assert_no_address(response: httpx.Response) -> None:
    assert not _ADDRESS.search(response.text), response.text


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
        "draining": False,
    }


async def test_retrieval_down_with_a_last_resort_page_is_still_ready_and_named(
    gateway: httpx.AsyncClient, retrieval_server: FakeRetrievalServer
) -> None:
    await retrieval_server.stop()

    response = await gateway.get("/readyz")

    # Requests still get items (the last-resort page): taking the gateway out of rotation would not help.
    assert response.status_code == 200, response.text
    assert response.json() == {
        "ready": True,
        "checks": {"redis": "ok", "retrieval": "unreachable"},
        "failed": ["retrieval"],
        "draining": False,
    }
    assert_no_address(response)
    # Still alive: a dependency's outage must not get the gateway restarted.
    assert (await gateway.get("/healthz")).status_code == 200


async def test_not_ready_when_retrieval_is_down_and_no_page_is_held(
    gateway_factory: Callable[..., Any], retrieval_server: FakeRetrievalServer
) -> None:
    retrieval_server.servicer.faults["Popular"] = Fault(code=grpc.StatusCode.UNAVAILABLE)
    gateway = await gateway_factory(last_resort=False)
    await retrieval_server.stop()

    response = await gateway.get("/readyz")

    assert response.status_code == 503
    body = response.json()
    assert (body["ready"], body["failed"], body["checks"]["retrieval"]) == (
        False,
        ["retrieval"],
        "unreachable",
    )
    assert_no_address(response)


async def test_not_serving_retrieval_is_named(
    gateway_factory: Callable[..., Any], retrieval_server: FakeRetrievalServer
) -> None:
    retrieval_server.servicer.faults["Popular"] = Fault(code=grpc.StatusCode.UNAVAILABLE)
    gateway = await gateway_factory(last_resort=False)
    await retrieval_server.service.health.set(RETRIEVAL_SERVICE, health_pb2.HealthCheckResponse.NOT_SERVING)

    response = await gateway.get("/readyz")

    assert response.status_code == 503
    assert response.json()["checks"]["retrieval"] == "not_serving"


async def test_redis_down_is_named_but_requests_still_get_items(
    gateway_factory: Callable[..., Any], deps_without_redis: GatewayDeps
) -> None:
    gateway = await gateway_factory(deps=deps_without_redis)
    response = await gateway.get("/readyz")

    assert response.status_code == 200, response.text
    assert response.json() == {
        "ready": True,
        "checks": {"redis": "unreachable", "retrieval": "ok"},
        "failed": ["redis"],
        "draining": False,
    }
    assert_no_address(response)
