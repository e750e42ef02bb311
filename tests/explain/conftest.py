"""The explain service in-process on port 0 with a fake LLM and a real Redis."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
import redis.asyncio as aioredis

from explain.main import build
from explain.settings import ExplainSettings
from recgpt.explain.v1 import explain_pb2_grpc
from recgpt_domain.behaviour_store import BehaviourStore
from recgpt_serving.agent_runner import AgentDeps
from recgpt_serving.llm.client import LlmClient, LlmSettings
from tests.explain.catalogue import BY_ID
from tests.recgpt_serving.llm.fake_openai import FakeOpenAI


@dataclass
class Running:
    stub: explain_pb2_grpc.ExplainServiceStub
    llm: FakeOpenAI


Starter = Callable[..., "AsyncIterator[Running]"]


@pytest.fixture
def settings(tmp_path: Path, redis_url: str, redis_prefix: str) -> ExplainSettings:
    return ExplainSettings(
        catalogue_dir=tmp_path,
        redis_url=redis_url,
        redis_prefix=redis_prefix,
        port=0,
        metrics_port=0,
        llm_deadline_s=5.0,
    )


@asynccontextmanager
async def serving(
    settings: ExplainSettings,
    fake: FakeOpenAI,
    redis_client: aioredis.Redis,
    model: str = "smol",
    adapter: str = "",
) -> AsyncIterator[Running]:
    llm = LlmClient(LlmSettings(endpoints=[fake.base_url], model=model, adapter=adapter))
    deps = AgentDeps(llm=llm, store=BehaviourStore(redis_client, settings.redis_prefix), items=BY_ID)
    registration = build(settings, deps)
    server = grpc.aio.server()
    registration.add_to_server(registration.servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    try:
        yield Running(explain_pb2_grpc.ExplainServiceStub(channel), fake)  # type: ignore[no-untyped-call]
    finally:
        await channel.close()
        await server.stop(0)
        await llm.aclose()


@pytest.fixture
async def service(
    settings: ExplainSettings, fake_llm: FakeOpenAI, redis_client: aioredis.Redis
) -> AsyncIterator[Running]:
    async with serving(settings, fake_llm, redis_client) as running:
        yield running
