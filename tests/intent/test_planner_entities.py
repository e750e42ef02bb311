"""The planner with entity tokens, over real gRPC: a request that asks for them gets its items as prompt
embeddings and says how many; one that does not, or an engine that refuses them, gets the text."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import pytest
import redis.asyncio as aioredis

from intent.main import build
from recgpt.common.v1 import common_pb2
from recgpt.intent.v1 import intent_pb2_grpc
from recgpt_domain.behaviour_store import BehaviourStore
from recgpt_serving.agent_runner import AgentDeps
from recgpt_serving.llm.client import LlmClient, LlmSettings
from tests.grpc_servers import serving
from tests.intent.running import Running, intent_settings
from tests.intent.test_planner import answer, plan
from tests.lab_catalogue import WITH_UNCATEGORISED
from tests.recgpt_serving.llm.entity_tables import table_of
from tests.recgpt_serving.llm.fake_openai import FakeOpenAI


@pytest.fixture
async def intent(
    fake_llm: FakeOpenAI, redis_url: str, redis_prefix: str, redis_client: aioredis.Redis
) -> AsyncIterator[Running]:
    settings = intent_settings(redis_url, redis_prefix)
    store = BehaviourStore(redis_client, redis_prefix)
    llm = LlmClient(LlmSettings(endpoints=[fake_llm.base_url]))
    deps = AgentDeps(
        llm=llm, store=store, items=WITH_UNCATEGORISED, entities=table_of(sorted(WITH_UNCATEGORISED))
    )
    try:
        async with (
            serving(build(settings, deps), name="intent") as served,
            grpc.aio.insecure_channel(served.target) as channel,
        ):
            stub = intent_pb2_grpc.IntentServiceStub(channel)  # type: ignore[no-untyped-call]
            yield Running(stub, store, fake_llm, settings)
    finally:
        await llm.aclose()


def parts_of(intent: Running) -> list[str]:
    content = intent.llm.seen[-1].body["messages"][-1]["content"]
    return [part["type"] for part in content] if isinstance(content, list) else ["string"]


async def test_entity_tokens_name_the_items_when_asked(intent: Running) -> None:
    intent.llm.behaviour.content = answer(("Runs a biology lab", ["Microscopes"]))
    reply = await intent.stub.PlanPersonas(
        plan("m1", "b1", "m1", item_representation=common_pb2.ITEM_REPRESENTATION_ENTITY)
    )
    assert [p.persona for p in reply.personas] == ["Runs a biology lab"]
    assert reply.entity_tokens == 2
    assert parts_of(intent).count("prompt_embeds") == 2
    content = intent.llm.seen[-1].body["messages"][-1]["content"]
    assert not any("Compound light microscope" in part.get("text", "") for part in content)


async def test_the_default_is_text(intent: Running) -> None:
    intent.llm.behaviour.content = answer(("Runs a biology lab", ["Microscopes"]))
    reply = await intent.stub.PlanPersonas(plan("m1", "b1"))
    assert reply.entity_tokens == 0 and parts_of(intent) == ["string"]


async def test_an_engine_without_prompt_embeddings_gets_the_text(intent: Running) -> None:
    intent.llm.behaviour.content = answer(("Runs a biology lab", ["Microscopes"]))
    intent.llm.behaviour.refuse_prompt_embeds = True
    reply = await intent.stub.PlanPersonas(
        plan("m1", "b1", item_representation=common_pb2.ITEM_REPRESENTATION_ENTITY)
    )
    assert [p.persona for p in reply.personas] == ["Runs a biology lab"] and not reply.fallback
    assert reply.entity_tokens == 0 and parts_of(intent) == ["string"]
    assert "Compound light microscope" in intent.llm.seen[-1].body["messages"][-1]["content"]
