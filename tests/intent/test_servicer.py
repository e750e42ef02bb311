"""MineInterests over real gRPC: LLM answers are validated, and anything unusable falls back visibly."""

from __future__ import annotations

import json
import time
from typing import Any

import grpc
import pytest
from prometheus_client import REGISTRY

from intent.prompts import PROMPT_VERSION
from recgpt.common.v1 import common_pb2
from recgpt.intent.v1 import intent_pb2
from recgpt_domain.catalogue import Interaction
from recgpt_serving.llm.models import DEFAULT_MODEL_NAME as CONFIGURED_MODEL
from tests.intent.running import Running


def behaviour(*item_ids: str) -> list[common_pb2.Interaction]:
    return [common_pb2.Interaction(item_id=item, timestamp=1_000 + n) for n, item in enumerate(item_ids)]


def answer(*pairs: tuple[str, str]) -> str:
    return json.dumps({"interests": [{"interest": i, "reason": r} for i, r in pairs]})


def counter(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def fallbacks(reason: str) -> float:
    return counter("recgpt_agent_fallbacks_total", agent="interest_miner", reason=reason)


def dropped(reason: str) -> float:
    return counter("recgpt_agent_dropped_outputs_total", agent="interest_miner", reason=reason)


def mine(*item_ids: str, **fields: Any) -> intent_pb2.MineInterestsRequest:
    return intent_pb2.MineInterestsRequest(user_id="u1", behaviour=behaviour(*item_ids), **fields)


async def test_a_valid_answer_gives_interests_with_provenance_and_usage(intent: Running) -> None:
    intent.llm.behaviour.content = answer(
        ("microscopy", "two microscopes recently"), ("lab glassware", "a beaker set")
    )
    intent.llm.behaviour.prompt_tokens, intent.llm.behaviour.completion_tokens = 321, 45
    before = time.time()
    reply = await intent.stub.MineInterests(mine("m1", "b1", "m2", method=intent_pb2.METHOD_RECGPT_V1))
    assert [(i.interest, i.reason) for i in reply.interests] == [
        ("microscopy", "two microscopes recently"),
        ("lab glassware", "a beaker set"),
    ]
    assert not reply.fallback and not reply.provenance.fallback
    # The configured model, not the name a worker reports (vLLM reports an adapter as the model).
    assert (reply.provenance.model, reply.provenance.adapter) == (CONFIGURED_MODEL, "")
    assert reply.provenance.prompt_version == PROMPT_VERSION
    assert reply.provenance.created_at_unix >= int(before)
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens) == (321, 45)
    assert reply.usage.engine_seconds > 0


async def test_the_prompt_carries_the_compressed_behaviour_and_a_tight_schema(intent: Running) -> None:
    intent.llm.behaviour.content = answer(("microscopy", "r"))
    await intent.stub.MineInterests(mine("m1", "g1", max_interests=3))
    body = intent.llm.seen[-1].body
    prompt = body["messages"][-1]["content"]
    assert "Microscopes (1 items):" in prompt and "Super glue gel" in prompt
    schema = body["response_format"]["json_schema"]["schema"]
    assert schema["properties"]["interests"]["maxItems"] == 3
    assert body["max_tokens"] == intent.settings.interest_max_tokens


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("not json at all", "invalid_json"),
        ("", "empty"),
        ('{"interests": "microscopy"}', "schema_mismatch"),
        ('{"likes": []}', "schema_mismatch"),
    ],
)
async def test_an_unusable_answer_falls_back_to_frequent_categories(
    intent: Running, content: str, reason: str
) -> None:
    intent.llm.behaviour.content = content
    before = fallbacks(reason)
    reply = await intent.stub.MineInterests(mine("m1", "b1", "m2", "m1"))
    assert reply.fallback and reply.provenance.fallback
    assert [i.interest for i in reply.interests] == ["Microscopes", "Beakers"]
    assert reply.interests[0].reason == "3 of your recent items are in this category"
    assert reply.provenance.model == CONFIGURED_MODEL
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens) == (12, 7), "the bad answer cost too"
    assert reply.provenance.prompt_version == PROMPT_VERSION
    assert fallbacks(reason) == before + 1


async def test_a_failed_call_falls_back_with_the_configured_model_name(intent: Running) -> None:
    intent.llm.behaviour.mode = "status"
    intent.llm.behaviour.status = 400
    before = fallbacks("rejected")
    reply = await intent.stub.MineInterests(mine("g1"))
    assert reply.fallback
    assert [i.interest for i in reply.interests] == ["Glues"]
    assert reply.interests[0].reason == "1 of your recent items is in this category"
    assert reply.provenance.model == CONFIGURED_MODEL
    assert fallbacks("rejected") == before + 1


async def test_bad_entries_are_dropped_and_counted(intent: Running) -> None:
    intent.llm.behaviour.content = answer(
        ("  Microscopy ", "ok"),
        ("microscopy", "duplicate in another case"),
        ("MICROSCOPY.", "duplicate with punctuation"),
        ("", "empty"),
        ("N/A", "placeholder"),
        ("interest", "field name copied"),
        ("12345", "no letters"),
        ("x" * 61, "too long"),
        ("Microscopes (2 items):", "a heading copied from the prompt"),
        ("shopping guide", "an echo of the prompt"),
        ("lab   glassware", "r" * 300),
    )
    reasons = ["duplicate", "empty", "placeholder", "no_letters", "too_long", "echo"]
    before = {reason: dropped(reason) for reason in reasons}
    reply = await intent.stub.MineInterests(mine("m1", "b1"))
    assert not reply.fallback
    assert [i.interest for i in reply.interests] == ["Microscopy", "lab glassware"]
    assert len(reply.interests[1].reason) <= 120
    increments = {reason: dropped(reason) - before[reason] for reason in reasons}
    assert increments == {
        "duplicate": 2, "empty": 1, "placeholder": 2, "no_letters": 1, "too_long": 1, "echo": 2
    }  # fmt: skip


async def test_no_valid_interest_left_falls_back(intent: Running) -> None:
    intent.llm.behaviour.content = answer(("none", "nothing"), ("n/a", ""))
    before = fallbacks("too_few_valid")
    reply = await intent.stub.MineInterests(mine("b1"))
    assert reply.fallback
    assert [i.interest for i in reply.interests] == ["Beakers"]
    assert reply.provenance.model == CONFIGURED_MODEL and reply.provenance.fallback
    assert reply.usage.completion_tokens == intent.llm.behaviour.completion_tokens
    assert fallbacks("too_few_valid") == before + 1


async def test_more_interests_than_asked_are_cut(intent: Running) -> None:
    intent.llm.behaviour.content = answer(*((f"interest number {n}", "r") for n in ("one", "two", "three")))
    reply = await intent.stub.MineInterests(mine("m1", max_interests=2))
    assert [i.interest for i in reply.interests] == ["interest number one", "interest number two"]


async def test_max_interests_is_capped(intent: Running) -> None:
    intent.llm.behaviour.content = answer(("microscopy", "r"))
    await intent.stub.MineInterests(mine("m1", max_interests=10_000))
    schema = intent.llm.seen[-1].body["response_format"]["json_schema"]["schema"]
    assert schema["properties"]["interests"]["maxItems"] == intent.settings.max_interests_limit


async def test_a_user_without_behaviour_gets_an_empty_answer_without_an_llm_call(intent: Running) -> None:
    before = fallbacks("no_behaviour")
    reply = await intent.stub.MineInterests(intent_pb2.MineInterestsRequest(user_id="nobody"))
    assert reply.fallback
    assert list(reply.interests) == []
    assert reply.provenance.prompt_version == PROMPT_VERSION
    assert intent.llm.seen == []
    assert fallbacks("no_behaviour") == before + 1


async def test_behaviour_of_unknown_items_only_counts_as_none(intent: Running) -> None:
    reply = await intent.stub.MineInterests(mine("not-in-catalogue"))
    assert reply.fallback and list(reply.interests) == []
    assert intent.llm.seen == []


async def test_one_interaction_takes_the_llm_path(intent: Running) -> None:
    intent.llm.behaviour.content = answer(("adhesives", "bought super glue"))
    reply = await intent.stub.MineInterests(mine("g1"))
    assert not reply.fallback
    assert [i.interest for i in reply.interests] == ["adhesives"]
    assert len(intent.llm.seen) == 1


async def test_behaviour_is_read_from_redis_when_the_request_has_none(intent: Running) -> None:
    await intent.store.append("u9", [Interaction(item_id="b1", timestamp=5), Interaction(item_id="g1")])
    intent.llm.behaviour.content = "broken"
    reply = await intent.stub.MineInterests(intent_pb2.MineInterestsRequest(user_id="u9"))
    assert reply.fallback
    assert {i.interest for i in reply.interests} == {"Beakers", "Glues"}
    prompt = intent.llm.seen[-1].body["messages"][-1]["content"]
    assert "Borosilicate glass beaker set" in prompt and "Super glue gel" in prompt


async def test_a_short_caller_deadline_cuts_the_llm_call_to_a_fallback(intent: Running) -> None:
    """The LLM answers after the caller's deadline: the call is cut to fit, the fallback answers in time."""
    intent.llm.behaviour.content = answer(("microscopy", "r"))
    intent.llm.behaviour.latency_s = 5.0
    before = fallbacks("timeout")
    reply = await intent.stub.MineInterests(mine("m1", "b1"), timeout=1.0)
    assert reply.fallback and reply.provenance.fallback
    assert [i.interest for i in reply.interests] == ["Beakers", "Microscopes"]
    assert fallbacks("timeout") == before + 1


@pytest.mark.parametrize(
    ("request_", "fragment"),
    [
        (intent_pb2.MineInterestsRequest(user_id="u" * 129), "user_id"),
        (intent_pb2.MineInterestsRequest(user_id="u", behaviour=behaviour(*["m1"] * 1001)), "behaviour"),
        (intent_pb2.MineInterestsRequest(user_id="u", max_interests=-1), "max_interests"),
    ],
)
async def test_bad_requests_are_invalid_arguments(
    intent: Running, request_: intent_pb2.MineInterestsRequest, fragment: str
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await intent.stub.MineInterests(request_)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert fragment in (caught.value.details() or "")
    assert intent.llm.seen == []


async def test_v2_is_unimplemented(intent: Running) -> None:
    calls = [intent.stub.MineInterests(mine("m1", method=intent_pb2.METHOD_RECGPT_V2))]
    for call in calls:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call
        assert caught.value.code() == grpc.StatusCode.UNIMPLEMENTED
        assert "PlanPersonas" in (caught.value.details() or "")
