"""Gateway fixtures: fake retrieval, explain and judge servicers in-process on port 0, the app over ASGI."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
from fastapi import FastAPI

from gateway.app import Gateway, create_app
from gateway.auth.keys import ApiKey, KeyStore, Scope, new_key, write_file
from gateway.clients import EXPLAIN_SERVICE, JUDGE_SERVICE, RETRIEVAL_SERVICE, GatewayDeps
from gateway.pipelines.last_resort import LastResortPage
from gateway.settings import GatewaySettings
from recgpt.explain.v1 import explain_pb2_grpc
from recgpt.judge.v1 import judge_pb2_grpc
from recgpt.retrieval.v1 import retrieval_pb2_grpc
from recgpt_domain import behaviour_store, redis_connection
from recgpt_serving import grpc_client
from tests.gateway.callers import NOT_SHED, keyed_client
from tests.gateway.gateway_fakes import (
    FakeExplain,
    FakeJudge,
    FakeRetrieval,
    FakeRetrievalServer,
    FakeServer,
    fake_server,
)


@pytest.fixture
async def retrieval_server(
    redis_client: aioredis.Redis, redis_prefix: str
) -> AsyncIterator[FakeRetrievalServer]:
    """The fake reads the users' behaviour from the test's Redis, as retrieval does."""
    add = retrieval_pb2_grpc.add_RetrievalServiceServicer_to_server
    store = behaviour_store.BehaviourStore(redis_client, redis_prefix)
    async with fake_server(FakeRetrieval(store), RETRIEVAL_SERVICE, add) as server:
        yield server


@pytest.fixture
async def explain_server() -> AsyncIterator[FakeServer[FakeExplain]]:
    add = explain_pb2_grpc.add_ExplainServiceServicer_to_server
    async with fake_server(FakeExplain(), EXPLAIN_SERVICE, add) as server:
        yield server


@pytest.fixture
async def judge_server() -> AsyncIterator[FakeServer[FakeJudge]]:
    async with fake_server(
        FakeJudge(), JUDGE_SERVICE, judge_pb2_grpc.add_JudgeServiceServicer_to_server
    ) as server:
        yield server


@pytest.fixture
def test_key() -> tuple[ApiKey, str]:
    return new_key("tests", frozenset(Scope))


@pytest.fixture
async def api_key(test_key: tuple[ApiKey, str], redis_client: aioredis.Redis, redis_prefix: str) -> str:
    """A key with every scope, stored where the gateway reads its keys: in Redis and in the keys file
    (which keeps it valid in the tests that take Redis away)."""
    await KeyStore(redis_client, redis_prefix).add(test_key[0])
    return test_key[1]


@pytest.fixture
def keys_file(tmp_path: Path, test_key: tuple[ApiKey, str]) -> Path:
    path = tmp_path / "api-keys.json"
    write_file(path, [test_key[0]])
    return path


@pytest.fixture
def settings(
    redis_url: str, redis_prefix: str, retrieval_server: FakeRetrievalServer, keys_file: Path
) -> GatewaySettings:
    return GatewaySettings(
        api_keys_file=keys_file,
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
        **NOT_SHED,
    )


async def wait_for_last_resort(app: Gateway | FastAPI) -> None:
    page: LastResortPage = app.state.last_resort
    for _ in range(500):
        if page.held:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the gateway never got its last-resort page")


@pytest.fixture
async def gateway_factory(settings: GatewaySettings, api_key: str) -> AsyncIterator[Callable[..., Any]]:
    """Starts the app (lifespan included) with optional settings overrides or injected deps."""
    stack: list[Any] = []

    async def start(
        deps: GatewayDeps | None = None, *, last_resort: bool = True, **overrides: Any
    ) -> httpx.AsyncClient:
        """With `last_resort`, returns once the app holds its last-resort page (its first refresh)."""
        app = create_app(settings.model_copy(update=overrides), deps=deps)
        lifespan = app.lifespan()
        await lifespan.__aenter__()
        stack.append(lifespan)
        if last_resort:
            await wait_for_last_resort(app)
        client = keyed_client(app, api_key)
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
        redis=redis_connection.connect("redis://127.0.0.1:1/0"),
        retrieval_channel=grpc_client.channel(retrieval_server.target, RETRIEVAL_SERVICE),
    )
    try:
        yield deps
    finally:
        await deps.close()
