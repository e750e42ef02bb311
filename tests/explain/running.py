"""The explain service in-process with a fake LLM, as its tests start it (with settings of their own)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import grpc
import redis.asyncio as aioredis

from explain.main import build
from explain.settings import ExplainSettings
from recgpt.explain.v1 import explain_pb2_grpc
from recgpt_domain.behaviour_store import BehaviourStore
from recgpt_serving.agent_runner import AgentDeps
from recgpt_serving.llm.client import LlmClient, LlmSettings
from tests.explain.catalogue import BY_ID
from tests.grpc_servers import serving as serving_grpc
from tests.recgpt_serving.llm.fake_openai import FakeOpenAI


@dataclass
class Running:
    stub: explain_pb2_grpc.ExplainServiceStub
    llm: FakeOpenAI


@asynccontextmanager
async def serving(
    settings: ExplainSettings,
    fake: FakeOpenAI,
    redis_client: aioredis.Redis,
    model: str = "smol",
    adapter: str = "",
) -> AsyncIterator[Running]:
    llm = LlmClient(LlmSettings(endpoints=[fake.base_url], model=model, adapter=adapter))
    try:
        deps = AgentDeps(llm=llm, store=BehaviourStore(redis_client, settings.redis_prefix), items=BY_ID)
        async with (
            serving_grpc(build(settings, deps), name="explain") as served,
            grpc.aio.insecure_channel(served.target) as channel,
        ):
            stub = explain_pb2_grpc.ExplainServiceStub(channel)  # type: ignore[no-untyped-call]
            yield Running(stub, fake)
    finally:
        await llm.aclose()
