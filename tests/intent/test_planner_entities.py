"""The planner with entity tokens, over real gRPC: a request that asks for them gets its items as prompt
embeddings and says how many; one that does not, or an engine that refuses them, gets the text."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from recgpt.common.v1 import common_pb2
from tests.intent.planning import answer, plan
from tests.intent.running import Running, serving_intent
from tests.lab_catalogue import WITH_UNCATEGORISED
from tests.recgpt_serving.llm.entity_tables import table_of
from tests.recgpt_serving.llm.fake_openai import FakeOpenAI


@pytest.fixture
async def intent(
    fake_llm: FakeOpenAI, redis_url: str, redis_prefix: str, redis_client: aioredis.Redis
) -> AsyncIterator[Running]:
    entities = table_of(sorted(WITH_UNCATEGORISED))
    async with serving_intent(fake_llm, redis_url, redis_prefix, redis_client, entities) as running:
        yield running


def parts_of(intent: Running) -> list[str]:
    content = intent.llm.seen[-1].body["messages"][-1]["content"]
    return [part["type"] for part in content] if isinstance(content, list) else ["string"]


async def test_entity_tokens_name_the_items_when_asked(intent: Running) -> None:
    intent.llm.behaviour.respond = answer(("Runs a biology lab", ["Microscopes"]))
    reply = await intent.stub.PlanPersonas(
        plan("m1", "b1", "m1", item_representation=common_pb2.ITEM_REPRESENTATION_ENTITY)
    )
    assert [p.persona for p in reply.personas] == ["Runs a biology lab"]
    assert reply.entity_tokens == 2
    assert parts_of(intent).count("prompt_embeds") == 2
    content = intent.llm.seen[-1].body["messages"][-1]["content"]
    assert not any("Compound light microscope" in part.get("text", "") for part in content)


async def test_the_default_is_text(intent: Running) -> None:
    intent.llm.behaviour.respond = answer(("Runs a biology lab", ["Microscopes"]))
    reply = await intent.stub.PlanPersonas(plan("m1", "b1"))
    assert reply.entity_tokens == 0 and parts_of(intent) == ["string"]


async def test_an_engine_without_prompt_embeddings_gets_the_text(intent: Running) -> None:
    intent.llm.behaviour.respond = answer(("Runs a biology lab", ["Microscopes"]))
    intent.llm.behaviour.refuse_prompt_embeds = True
    reply = await intent.stub.PlanPersonas(
        plan("m1", "b1", item_representation=common_pb2.ITEM_REPRESENTATION_ENTITY)
    )
    assert [p.persona for p in reply.personas] == ["Runs a biology lab"] and not reply.fallback
    assert reply.entity_tokens == 0 and parts_of(intent) == ["string"]
    assert "Compound light microscope" in intent.llm.seen[-1].body["messages"][-1]["content"]
