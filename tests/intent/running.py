"""The intent service as its tests see it: its settings for a test, and what the `intent` fixture yields."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import grpc
import redis.asyncio as aioredis

from intent.main import build
from intent.settings import IntentSettings
from recgpt.intent.v1 import intent_pb2_grpc
from recgpt_domain.behaviour_store import BehaviourStore
from recgpt_serving.agent_runner import AgentDeps
from recgpt_serving.llm.client import LlmClient, LlmSettings
from recgpt_serving.llm.entity_tokens import EntityTokens
from tests.grpc_servers import serving
from tests.lab_catalogue import WITH_UNCATEGORISED
from tests.recgpt_serving.llm.fake_openai import FakeOpenAI


@dataclass
class Running:
    stub: intent_pb2_grpc.IntentServiceStub
    store: BehaviourStore
    llm: FakeOpenAI
    settings: IntentSettings


def intent_settings(redis_url: str, redis_prefix: str, **overrides: object) -> IntentSettings:
    values: dict[str, object] = {
        "catalogue_dir": Path("/nonexistent"),  # the items come in through AgentDeps
        "redis_url": redis_url,
        "redis_prefix": redis_prefix,
        "port": 0,
        "metrics_port": 0,
        **overrides,
    }
    return IntentSettings(**values)  # type: ignore[arg-type]


@asynccontextmanager
async def serving_intent(
    fake_llm: FakeOpenAI,
    redis_url: str,
    redis_prefix: str,
    redis_client: aioredis.Redis,
    entities: EntityTokens | None = None,
) -> AsyncIterator[Running]:
    settings = intent_settings(redis_url, redis_prefix)
    store = BehaviourStore(redis_client, redis_prefix)
    llm = LlmClient(LlmSettings(endpoints=[fake_llm.base_url]))
    deps = AgentDeps(llm=llm, store=store, items=WITH_UNCATEGORISED, entities=entities)
    try:
        async with (
            serving(build(settings, deps), name="intent") as served,
            grpc.aio.insecure_channel(served.target) as channel,
        ):
            stub = intent_pb2_grpc.IntentServiceStub(channel)  # type: ignore[no-untyped-call]
            yield Running(stub, store, fake_llm, settings)
    finally:
        await llm.aclose()
