"""PlanPersonas over real gRPC: K personas over the user's categories, validated; unusable answers fall back
to no personas (the caller serves the V1 path), counted by reason."""

from __future__ import annotations

import grpc
import pytest
from prometheus_client import REGISTRY

from intent.prompts import PLANNER_AGENT, PLANNER_PROMPT_VERSION
from tests.intent.planning import answer, plan
from tests.intent.running import Running


def counter(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def fallbacks(reason: str) -> float:
    return counter("recgpt_agent_fallbacks_total", agent=PLANNER_AGENT, reason=reason)


def dropped(problem: str) -> float:
    return counter("recgpt_agent_dropped_outputs_total", agent=PLANNER_AGENT, reason=problem)


async def test_personas_come_back_with_their_categories_environment_and_cost(intent: Running) -> None:
    intent.llm.behaviour.respond = answer(
        ("Runs a school biology lab", ["Microscopes", "Beakers"]),
        ("Fixes things at home", ["Glues"]),
    )
    intent.llm.behaviour.prompt_tokens, intent.llm.behaviour.completion_tokens = 400, 60
    reply = await intent.stub.PlanPersonas(
        plan("g1", "m1", "b1", max_personas=2, user_attributes={"region": "EU"})
    )
    assert [(p.persona, list(p.categories)) for p in reply.personas] == [
        ("Runs a school biology lab", ["Microscopes", "Beakers"]),
        ("Fixes things at home", ["Glues"]),
    ]
    assert not reply.fallback and reply.fallback_reason == "" and reply.dropped_personas == 0
    assert reply.provenance.prompt_version == PLANNER_PROMPT_VERSION
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens) == (400, 60)
    # "Today" is the user's latest interaction; the block and the behaviour are read once, in one request.
    assert reply.environment.splitlines()[0] == "Date: 2026-12-06 (winter)"
    [seen] = intent.llm.seen
    prompt = seen.body["messages"][-1]["content"]
    assert "Date: 2026-12-06 (winter)" in prompt and "Customer: region: EU" in prompt
    assert "Describe 2 different personas" in prompt
    schema = seen.body["response_format"]["json_schema"]["schema"]["properties"]["personas"]
    assert schema["maxItems"] == 2
    # The user's own categories, most frequent first, are what the list offers first, answered by number.
    assert "\n1. Beakers\n2. Microscopes\n3. Glues\n" in prompt
    numbers = schema["items"]["properties"]["categories"]["items"]["enum"]
    assert numbers[:3] == [1, 2, 3] and numbers == list(range(1, len(numbers) + 1))


async def test_duplicates_and_unknown_categories_are_dropped_and_counted(intent: Running) -> None:
    before = dropped("duplicate"), dropped("no_known_category"), dropped("unknown_category")
    intent.llm.behaviour.respond = answer(
        ("Lab buyer", ["Microscopes", "Unicorns"]),
        ("lab  BUYER", ["Microscopes"]),
        ("Dreamer", ["Unicorns"]),
        ("Safety first", ["Gloves"]),
    )
    reply = await intent.stub.PlanPersonas(plan("m1", "n1"))
    assert [(p.persona, list(p.categories)) for p in reply.personas] == [
        ("Lab buyer", ["Microscopes"]),
        ("Safety first", ["Gloves"]),
    ]
    assert not reply.fallback and reply.dropped_personas == 2
    after = dropped("duplicate"), dropped("no_known_category"), dropped("unknown_category")
    assert [b - a for a, b in zip(before, after, strict=True)] == [1, 1, 2]


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ('{"personas": [{"persona": "Dreamer", "categories": [99]}]}', "too_few_valid"),
        ('{"personas": [{"persona": "Dreamer", "categories": ["Beakers"]}]}', "schema_mismatch"),
        ('{"personas": []}', "too_few_valid"),
        ('{"personas": [{"persona": "x"}]}', "schema_mismatch"),
        ("not json", "invalid_json"),
    ],
)
async def test_an_answer_without_a_usable_persona_falls_back_to_none(
    intent: Running, content: str, reason: str
) -> None:
    intent.llm.behaviour.content = content
    before = fallbacks(reason)
    reply = await intent.stub.PlanPersonas(plan("m1"))
    assert reply.fallback and reply.fallback_reason == reason and not reply.personas
    assert reply.provenance.fallback
    assert fallbacks(reason) == before + 1


async def test_no_behaviour_asks_no_llm(intent: Running) -> None:
    before = fallbacks("no_behaviour")
    reply = await intent.stub.PlanPersonas(plan())
    assert reply.fallback and reply.fallback_reason == "no_behaviour" and not intent.llm.seen
    assert fallbacks("no_behaviour") == before + 1


async def test_requests_out_of_bounds_are_refused(intent: Running) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await intent.stub.PlanPersonas(plan("m1", max_personas=-1))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    # K is capped at the service's most.
    intent.llm.behaviour.respond = answer(("Lab buyer", ["Microscopes"]))
    await intent.stub.PlanPersonas(plan("m1", max_personas=99))
    schema = intent.llm.seen[-1].body["response_format"]["json_schema"]["schema"]
    assert schema["properties"]["personas"]["maxItems"] == intent.settings.max_personas
