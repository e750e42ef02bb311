"""Gateway fixtures: a fake retrieval servicer served in-process on port 0, and the app over ASGI."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from gateway.app import create_app
from gateway.clients import RETRIEVAL_SERVICE, GatewayDeps
from gateway.settings import GatewaySettings
from recgpt.retrieval.v1 import retrieval_pb2_grpc
from recgpt_runtime import behaviour_store, grpc_client
from recgpt_runtime.grpc_server import GrpcService
from tests.gateway.gateway_fakes import FakeRetrieval, FakeRetrievalServer


@pytest.fixture
async def retrieval_server() -> AsyncIterator[FakeRetrievalServer]:
    servicer = FakeRetrieval()
    service = GrpcService("retrieval-fake", [RETRIEVAL_SERVICE])
    retrieval_pb2_grpc.add_RetrievalServiceServicer_to_server(servicer, service.server)  # type: ignore[no-untyped-call]
    port = service.bind("127.0.0.1", 0)
    await service.start()
    await service.mark_serving()
    server = FakeRetrievalServer(servicer, service, f"127.0.0.1:{port}")
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
def settings(redis_url: str, redis_prefix: str, retrieval_server: FakeRetrievalServer) -> GatewaySettings:
    return GatewaySettings(
        redis_url=redis_url,
        redis_prefix=redis_prefix,
        port=0,
        retrieval_target=retrieval_server.target,
        readiness_timeout_s=0.3,
        # Generous, so that a busy test machine does not fail tests that are not about deadlines;
        # the tests about deadlines set tight ones.
        retrieval_deadline_s=1.0,
        redis_deadline_s=1.0,
        request_deadline_s=2.0,
    )


@pytest.fixture
async def gateway_factory(
    settings: GatewaySettings,
) -> AsyncIterator[Callable[..., Any]]:
    """Starts the app (lifespan included) with optional settings overrides or injected deps."""
    stack: list[Any] = []

    async def start(deps: GatewayDeps | None = None, **overrides: Any) -> httpx.AsyncClient:
        app = create_app(settings.model_copy(update=overrides), deps=deps)
        lifespan = app.router.lifespan_context(app)
        await lifespan.__aenter__()
        stack.append(lifespan)
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://gateway", timeout=5
        )
        stack.append(client)
        return client

    try:
        yield start
    finally:
        for resource in reversed(stack):
            await resource.__aexit__(None, None, None)


@pytest.fixture
async def gateway(gateway_factory: Callable[..., Any]) -> httpx.AsyncClient:
    """The app as deployed: its lifespan opens the channel and the Redis client from settings."""
    client: httpx.AsyncClient = await gateway_factory()
    return client


@pytest.fixture
async def deps_without_redis(retrieval_server: FakeRetrievalServer) -> AsyncIterator[GatewayDeps]:
    """Connections whose Redis refuses every connection, beside the working fake retrieval."""
    deps = GatewayDeps(
        redis=behaviour_store.connect("redis://127.0.0.1:1/0"),
        retrieval_channel=grpc_client.channel(retrieval_server.target, RETRIEVAL_SERVICE),
    )
    try:
        yield deps
    finally:
        await deps.close()
