"""The intent service in-process on port 0, with the fake LLM, a real Redis and the small lab catalogue."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import pytest
import redis.asyncio as aioredis

from intent.main import build
from recgpt.intent.v1 import intent_pb2_grpc
from recgpt_domain.behaviour_store import BehaviourStore
from recgpt_serving.agent_runner import AgentDeps
from recgpt_serving.llm.client import LlmClient, LlmSettings
from tests.grpc_servers import serving
from tests.intent.running import Running, intent_settings
from tests.lab_catalogue import WITH_UNCATEGORISED
from tests.recgpt_serving.llm.fake_openai import FakeOpenAI


@pytest.fixture
async def intent(
    fake_llm: FakeOpenAI, redis_url: str, redis_prefix: str, redis_client: aioredis.Redis
) -> AsyncIterator[Running]:
    settings = intent_settings(redis_url, redis_prefix)
    store = BehaviourStore(redis_client, redis_prefix)
    llm = LlmClient(LlmSettings(endpoints=[fake_llm.base_url]))
    try:
        registration = build(settings, AgentDeps(llm=llm, store=store, items=WITH_UNCATEGORISED))
        async with (
            serving(registration, name="intent") as served,
            grpc.aio.insecure_channel(served.target) as channel,
        ):
            stub = intent_pb2_grpc.IntentServiceStub(channel)  # type: ignore[no-untyped-call]
            yield Running(stub, store, fake_llm, settings)
    finally:
        await llm.aclose()
