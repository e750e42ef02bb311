"""ExpertTags and ArbitrateTags over real gRPC: each expert chooses only among its own pool, the arbiter the
final N among the experts' picks; picks outside are dropped and counted, and nothing usable falls back."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from prometheus_client import REGISTRY

from recgpt.common.v1 import common_pb2
from recgpt.tags.v1 import tags_pb2
from tags.prompts import ARBITER_AGENT, ARBITER_PROMPT_VERSION, EXPERT_AGENT
from tests.lab_catalogue import ITEMS
from tests.recgpt_serving.llm.entity_tables import table_of
from tests.recgpt_serving.llm.fake_openai import numbered_list
from tests.tags.candidates import CANDIDATES
from tests.tags.running import Running, Serve, behaviour

NAMES = CANDIDATES.names
PERSONA = "Runs a school biology lab"


def counter(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def enum_of(body: dict[str, Any]) -> list[int]:
    tags = body["response_format"]["json_schema"]["schema"]["properties"]["tags"]
    numbers: list[int] = tags["items"]["enum"]
    return numbers


@pytest.fixture
async def tags(serve: Serve) -> AsyncIterator[Running]:
    async with serve(CANDIDATES, tag_mode="choose", expert_pool=5) as running:
        yield running


def expert(**fields: Any) -> tags_pb2.ExpertTagsRequest:
    values: dict[str, Any] = {
        "user_id": "u1",
        "persona": PERSONA,
        "persona_categories": ["Beakers"],
        "behaviour": behaviour("b1", "m1"),
        **fields,
    }
    return tags_pb2.ExpertTagsRequest(**values)


async def test_an_expert_chooses_in_its_own_pool_and_picks_outside_it_are_dropped(tags: Running) -> None:
    before = counter("recgpt_agent_dropped_outputs_total", agent=EXPERT_AGENT, reason="outside_pool")
    # Its third candidate first, a number past its list, then its first.
    tags.llm.behaviour.respond = lambda body: json.dumps({"tags": [3, 99, 1]})
    reply = await tags.stub.ExpertTags(expert(max_tags=4))
    pool = list(reply.pool)
    # The persona's category, then what follows it most (Pipettes) and the nearest to its text, in turn.
    assert pool[:2] == ["Beakers", "Pipettes"] and len(pool) == 5 and len(set(pool)) == 5
    assert set(pool) <= set(NAMES)
    assert [(t.category, t.tag, t.interest) for t in reply.tags] == [
        (pool[2], NAMES[pool[2]], PERSONA),
        ("Beakers", NAMES["Beakers"], PERSONA),
    ]
    assert not reply.fallback and reply.outside_pool == 1
    assert (
        counter("recgpt_agent_dropped_outputs_total", agent=EXPERT_AGENT, reason="outside_pool") == before + 1
    )
    [seen] = tags.llm.seen
    # The pool, listed by its names and answered by their numbers.
    assert numbered_list(seen.body) == {n: NAMES[c] for n, c in enumerate(pool, 1)}
    assert enum_of(seen.body) == [1, 2, 3, 4, 5]
    prompt = seen.body["messages"][-1]["content"]
    # Its persona and a short context only.
    assert PERSONA in prompt and "Borosilicate glass beaker set" in prompt


async def test_an_expert_with_nothing_in_its_pool_falls_back_with_no_tags(tags: Running) -> None:
    before = counter("recgpt_agent_fallbacks_total", agent=EXPERT_AGENT, reason="too_few_valid")
    tags.llm.behaviour.content = json.dumps({"tags": [99]})
    reply = await tags.stub.ExpertTags(expert())
    assert reply.fallback and reply.fallback_reason == "too_few_valid" and not reply.tags
    assert reply.usage.prompt_tokens == 12  # what the unusable answer cost
    assert counter("recgpt_agent_fallbacks_total", agent=EXPERT_AGENT, reason="too_few_valid") == before + 1


def candidate(category: str, persona: str) -> common_pb2.Tag:
    return common_pb2.Tag(tag=NAMES.get(category, category), interest=persona, category=category)


ARBITRATE = tags_pb2.ArbitrateTagsRequest(
    user_id="u1",
    behaviour=behaviour("b1", "m1"),
    candidates=[
        candidate("Pipettes", "lab"),
        candidate("Beakers", "lab"),
        candidate("Gloves", "safety"),
        candidate("Pipettes", "safety"),  # a duplicate across experts
        candidate("Unknownia", "safety"),  # names no category: left out
    ],
    max_tags=3,
)


async def test_the_arbiter_keeps_its_picks_first_tops_up_and_keeps_personas(tags: Running) -> None:
    shares = counter("recgpt_tag_expert_duplicate_share_count")
    # Numbered by persona: lab's Pipettes (1) and Beakers (2), then safety's Gloves (3).
    tags.llm.behaviour.content = json.dumps({"tags": [3, 42]})
    reply = await tags.stub.ArbitrateTags(ARBITRATE)
    # Its pick, then the experts' round-robin order: Pipettes (lab), Gloves (safety), Beakers (lab).
    assert [(t.category, t.interest) for t in reply.tags] == [
        ("Gloves", "safety"),
        ("Pipettes", "lab"),
        ("Beakers", "lab"),
    ]
    assert (reply.duplicates, reply.distinct, reply.topped_up) == (1, 3, 2)
    assert not reply.fallback and reply.provenance.prompt_version == ARBITER_PROMPT_VERSION
    assert counter("recgpt_tag_expert_duplicate_share_count") == shares + 1
    [seen] = tags.llm.seen
    assert numbered_list(seen.body) == {1: NAMES["Pipettes"], 2: NAMES["Beakers"], 3: NAMES["Gloves"]}
    assert enum_of(seen.body) == [1, 2, 3]
    assert seen.body["response_format"]["json_schema"]["schema"]["properties"]["tags"]["maxItems"] == 3


async def test_an_unusable_arbiter_answer_falls_back_to_the_experts_order(tags: Running) -> None:
    before = counter("recgpt_agent_fallbacks_total", agent=ARBITER_AGENT, reason="invalid_json")
    tags.llm.behaviour.content = "no json here"
    reply = await tags.stub.ArbitrateTags(ARBITRATE)
    assert reply.fallback and reply.fallback_reason == "invalid_json" and reply.provenance.fallback
    assert [t.category for t in reply.tags] == ["Pipettes", "Gloves", "Beakers"]
    assert counter("recgpt_agent_fallbacks_total", agent=ARBITER_AGENT, reason="invalid_json") == before + 1


async def test_no_candidates_fall_back_without_the_llm(tags: Running) -> None:
    reply = await tags.stub.ArbitrateTags(tags_pb2.ArbitrateTagsRequest(user_id="u1", max_tags=3))
    assert reply.fallback and reply.fallback_reason == "empty_subject" and not reply.tags
    assert not tags.llm.seen


async def test_bad_requests_are_refused_and_generate_mode_has_no_experts(tags: Running, serve: Serve) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await tags.stub.ExpertTags(expert(persona="  "))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    async with serve() as generating:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await generating.stub.ArbitrateTags(ARBITRATE)
        assert caught.value.code() == grpc.StatusCode.UNIMPLEMENTED


async def test_the_arbiter_reads_entity_tokens_when_asked(serve: Serve) -> None:
    entities = table_of(sorted(item.item_id for item in ITEMS))
    async with serve(CANDIDATES, entities, tag_mode="choose") as tags:
        tags.llm.behaviour.content = json.dumps({"tags": [3]})
        asked = tags_pb2.ArbitrateTagsRequest()
        asked.CopyFrom(ARBITRATE)
        asked.item_representation = common_pb2.ITEM_REPRESENTATION_ENTITY
        reply = await tags.stub.ArbitrateTags(asked)
        assert reply.entity_tokens == 2 and not reply.fallback
        content = tags.llm.seen[-1].body["messages"][-1]["content"]
        assert [part["type"] for part in content].count("prompt_embeds") == 2
        reply = await tags.stub.ArbitrateTags(ARBITRATE)
        assert reply.entity_tokens == 0
        assert isinstance(tags.llm.seen[-1].body["messages"][-1]["content"], str)
