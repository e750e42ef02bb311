"""Explanations end to end over gRPC: generated, grounded or replaced, cached per model and prompt version."""

from __future__ import annotations

import json
import time
from typing import Any

import grpc
import pytest
import redis.asyncio as aioredis
from prometheus_client import REGISTRY

from explain.prompts import PROMPT_VERSION
from explain.settings import ExplainSettings
from recgpt.explain.v1 import explain_pb2
from tests.explain.catalogue import EPPENDORF, GORILLA, LOCTITE
from tests.explain.running import Running, serving
from tests.recgpt_serving.llm.fake_openai import FakeOpenAI

GOOD = {
    EPPENDORF.item_id: "This Eppendorf pipette handles 100 to 1000 uL for your precise liquid handling.",
    GORILLA.item_id: "Waterproof polyurethane Gorilla Glue suits your woodworking repairs.",
    LOCTITE.item_id: "Loctite gel super glue gives you controlled drops for small repairs.",
}


def answer_by_title(body: dict[str, Any]) -> str:
    """The fake LLM writes the grounded sentence of whichever item the prompt is about."""
    prompt = body["messages"][-1]["content"]
    for item in (EPPENDORF, GORILLA, LOCTITE):
        if item.title[:40] in prompt:
            return json.dumps({"explanation": GOOD[item.item_id]})
    return json.dumps({"explanation": "A fine item."})


def pairs(*entries: tuple[str, str], cache_only: bool = False, **fields: Any) -> explain_pb2.ExplainRequest:
    return explain_pb2.ExplainRequest(
        user_id="u1",
        pairs=[explain_pb2.ExplainPair(interest=interest, item_id=item_id) for interest, item_id in entries],
        cache_only=cache_only,
        **fields,
    )


def counter(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def expect_code(call: object, code: grpc.StatusCode, fragment: str) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call  # type: ignore[misc]
    assert caught.value.code() == code
    assert fragment in (caught.value.details() or "")


async def test_explanations_are_generated_then_served_from_the_cache(service: Running) -> None:
    service.llm.behaviour.respond = answer_by_title
    request = pairs(("lab pipetting", EPPENDORF.item_id), ("wood repairs", GORILLA.item_id))
    hits = counter("recgpt_cache_requests_total", cache="explanation", result="hit")

    first = await service.stub.Explain(request)
    assert [(e.item_id, e.text, e.cached, e.fallback) for e in first.explanations] == [
        (EPPENDORF.item_id, GOOD[EPPENDORF.item_id], False, False),
        (GORILLA.item_id, GOOD[GORILLA.item_id], False, False),
    ]
    assert first.explanations[0].interest == "lab pipetting"
    assert first.explanations[0].provenance.model == "smol"
    assert first.explanations[0].provenance.adapter == ""
    assert not first.explanations[0].provenance.fallback
    assert first.explanations[0].provenance.prompt_version == PROMPT_VERSION == "explain-v1.1"
    assert first.explanations[0].provenance.created_at_unix > 0
    assert first.usage.prompt_tokens == 24 and first.usage.completion_tokens == 14
    assert first.usage.engine_seconds > 0
    assert len(service.llm.seen) == 2
    sent = service.llm.seen[0].body
    assert sent["max_tokens"] == 80
    assert sent["response_format"]["json_schema"]["schema"]["properties"]["explanation"]["maxLength"] == 200

    second = await service.stub.Explain(request)
    assert [(e.text, e.cached) for e in second.explanations] == [
        (GOOD[EPPENDORF.item_id], True),
        (GOOD[GORILLA.item_id], True),
    ]
    assert second.explanations[0].provenance == first.explanations[0].provenance
    assert len(service.llm.seen) == 2, "a cached explanation must not call the LLM"
    assert second.usage.prompt_tokens == 0
    assert counter("recgpt_cache_requests_total", cache="explanation", result="hit") == hits + 2


async def test_the_cache_key_ignores_case_and_spacing_of_the_interest(service: Running) -> None:
    service.llm.behaviour.respond = answer_by_title
    await service.stub.Explain(pairs(("Lab  Pipetting", EPPENDORF.item_id)))
    reply = await service.stub.Explain(pairs(("lab pipetting", EPPENDORF.item_id), cache_only=True))
    assert [e.cached for e in reply.explanations] == [True]


async def test_cache_only_leaves_misses_out_and_never_calls_the_llm(service: Running) -> None:
    service.llm.behaviour.respond = answer_by_title
    await service.stub.Explain(pairs(("lab pipetting", EPPENDORF.item_id)))
    reply = await service.stub.Explain(
        pairs(("lab pipetting", EPPENDORF.item_id), ("glue", LOCTITE.item_id), cache_only=True)
    )
    assert [e.item_id for e in reply.explanations] == [EPPENDORF.item_id]
    assert len(service.llm.seen) == 1


async def test_the_cache_key_holds_model_and_prompt_version(
    service: Running,
    settings: ExplainSettings,
    fake_llm: FakeOpenAI,
    redis_client: aioredis.Redis,
    redis_prefix: str,
) -> None:
    service.llm.behaviour.respond = answer_by_title
    await service.stub.Explain(pairs(("lab pipetting", EPPENDORF.item_id)))
    keys = [key async for key in redis_client.scan_iter(match=f"{redis_prefix}:explain:*")]
    assert len(keys) == 1
    assert keys[0].startswith(f"{redis_prefix}:explain:recgpt-v1:smol:{PROMPT_VERSION}:")
    assert keys[0].endswith(f":{EPPENDORF.item_id}")
    stored = json.loads(str(await redis_client.get(keys[0])))
    assert stored["text"] == GOOD[EPPENDORF.item_id] and stored["fallback"] is False
    assert stored["model"] == "smol" and stored["interest"] == "lab pipetting"
    assert 29 * 86400 < await redis_client.ttl(keys[0]) <= 30 * 86400

    async with serving(settings, fake_llm, redis_client, model="another-model") as other:
        reply = await other.stub.Explain(pairs(("lab pipetting", EPPENDORF.item_id), cache_only=True))
        assert list(reply.explanations) == []


async def test_an_ungrounded_answer_falls_back_to_the_template(
    service: Running, redis_client: aioredis.Redis, redis_prefix: str
) -> None:
    service.llm.behaviour.content = json.dumps(
        {"explanation": "A reliable Gilson pipette for your lab work."}
    )
    before = counter("recgpt_agent_fallbacks_total", agent="explainer", reason="ungrounded")
    dropped = counter("recgpt_agent_dropped_outputs_total", agent="explainer", reason="foreign_brand")
    reply = await service.stub.Explain(pairs(("lab pipetting", EPPENDORF.item_id)))
    [explanation] = reply.explanations
    assert explanation.fallback and explanation.provenance.fallback and not explanation.cached
    assert explanation.text == (
        "Matches your interest in lab pipetting: Eppendorf Research Plus Pipette, 100-1000 uL."
    )
    assert "Gilson" not in explanation.text
    assert counter("recgpt_agent_fallbacks_total", agent="explainer", reason="ungrounded") == before + 1
    assert (
        counter("recgpt_agent_dropped_outputs_total", agent="explainer", reason="foreign_brand")
        == dropped + 1
    )
    assert reply.usage.prompt_tokens == 12, "the rejected call still cost tokens"

    [key] = [key async for key in redis_client.scan_iter(match=f"{redis_prefix}:explain:*")]
    assert json.loads(str(await redis_client.get(key)))["fallback"] is True
    assert 0 < await redis_client.ttl(key) <= 86400, "fallbacks are kept a shorter time"
    again = await service.stub.Explain(pairs(("lab pipetting", EPPENDORF.item_id)))
    assert [(e.fallback, e.provenance.fallback, e.cached) for e in again.explanations] == [(True, True, True)]


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("not json at all", "invalid_json"),
        ('{"explanation": ""}', "schema_mismatch"),
        ('{"explanation": "An Eppendorf pipette that holds 5 mL. It is precise."}', "ungrounded"),
        ('{"explanation": "An Eppendorf pipette that holds 5 mL."}', "ungrounded"),
    ],
)
async def test_invalid_output_falls_back(service: Running, content: str, reason: str) -> None:
    service.llm.behaviour.content = content
    before = counter("recgpt_agent_fallbacks_total", agent="explainer", reason=reason)
    reply = await service.stub.Explain(pairs(("pipettes", EPPENDORF.item_id)))
    assert [e.fallback for e in reply.explanations] == [True]
    assert reply.explanations[0].text.startswith("Matches your interest in pipettes: Eppendorf")
    assert counter("recgpt_agent_fallbacks_total", agent="explainer", reason=reason) == before + 1


async def test_only_the_first_sentence_of_a_rambling_answer_is_kept(service: Running) -> None:
    service.llm.behaviour.content = '{"explanation": "An Eppendorf pipette for your lab. It holds 5 mL."}'
    reply = await service.stub.Explain(pairs(("pipettes", EPPENDORF.item_id)))
    assert [(e.text, e.fallback) for e in reply.explanations] == [
        ("An Eppendorf pipette for your lab.", False)
    ]


async def test_an_unreachable_llm_falls_back(service: Running) -> None:
    service.llm.behaviour.mode = "status"
    service.llm.behaviour.status = 400
    before = counter("recgpt_agent_fallbacks_total", agent="explainer", reason="rejected")
    reply = await service.stub.Explain(pairs(("glue", LOCTITE.item_id)))
    assert (
        reply.explanations[0].text
        == "Matches your interest in glue: Loctite Super Glue Gel Control, 0.14 oz."
    )
    assert reply.explanations[0].fallback
    assert counter("recgpt_agent_fallbacks_total", agent="explainer", reason="rejected") == before + 1


async def test_unknown_items_are_left_out(service: Running) -> None:
    service.llm.behaviour.respond = answer_by_title
    before = counter("recgpt_agent_dropped_outputs_total", agent="explainer", reason="unknown_item")
    reply = await service.stub.Explain(pairs(("glue", "NOPE"), ("glue", LOCTITE.item_id)))
    assert [e.item_id for e in reply.explanations] == [LOCTITE.item_id]
    assert len(service.llm.seen) == 1
    assert (
        counter("recgpt_agent_dropped_outputs_total", agent="explainer", reason="unknown_item") == before + 1
    )


async def test_bypass_cache_neither_reads_nor_writes_the_cache(
    service: Running, redis_client: aioredis.Redis, redis_prefix: str
) -> None:
    """Offline evaluation: what earlier runs cached must not change its figures, nor may it fill the cache."""
    service.llm.behaviour.respond = answer_by_title
    await service.stub.Explain(pairs(("lab pipetting", EPPENDORF.item_id)))
    [key] = [key async for key in redis_client.scan_iter(match=f"{redis_prefix}:explain:*")]
    await redis_client.set(key, str(await redis_client.get(key)).replace("Eppendorf pipette", "STALE"))

    request = pairs(("lab pipetting", EPPENDORF.item_id), ("glue", LOCTITE.item_id), bypass_cache=True)
    reply = await service.stub.Explain(request)
    assert [(e.text, e.cached) for e in reply.explanations] == [
        (GOOD[EPPENDORF.item_id], False),
        (GOOD[LOCTITE.item_id], False),
    ]
    assert len(service.llm.seen) == 3, "both pairs were generated, the cached one too"
    assert [key async for key in redis_client.scan_iter(match=f"{redis_prefix}:explain:*")] == [key]
    assert "STALE" in str(await redis_client.get(key)), "the cached entry was not overwritten"


async def test_cache_only_and_bypass_cache_exclude_each_other(service: Running) -> None:
    request = pairs(("glue", LOCTITE.item_id), cache_only=True, bypass_cache=True)
    await expect_code(service.stub.Explain(request), grpc.StatusCode.INVALID_ARGUMENT, "exclude each other")


async def test_an_adapter_has_its_own_cache_entries_and_provenance(
    settings: ExplainSettings,
    fake_llm: FakeOpenAI,
    redis_client: aioredis.Redis,
    redis_prefix: str,
) -> None:
    fake_llm.behaviour.respond = answer_by_title
    async with serving(settings, fake_llm, redis_client, adapter="explain-sft-1") as tuned:
        reply = await tuned.stub.Explain(pairs(("glue", LOCTITE.item_id)))
    [explanation] = reply.explanations
    assert (explanation.provenance.model, explanation.provenance.adapter) == ("smol", "explain-sft-1")
    assert fake_llm.seen[-1].body["model"] == "explain-sft-1"
    [key] = [key async for key in redis_client.scan_iter(match=f"{redis_prefix}:explain:*")]
    assert key.startswith(f"{redis_prefix}:explain:recgpt-v1:smol@explain-sft-1:{PROMPT_VERSION}:")
    async with serving(settings, fake_llm, redis_client) as base:
        reply = await base.stub.Explain(pairs(("glue", LOCTITE.item_id), cache_only=True))
    assert list(reply.explanations) == [], "the base model never reads what an adapter wrote"


async def test_a_short_caller_deadline_cuts_the_llm_calls_to_fallbacks(
    settings: ExplainSettings, fake_llm: FakeOpenAI, redis_client: aioredis.Redis
) -> None:
    """The LLM answers after the caller's deadline, and the pairs queue for one slot: every call is cut
    to what the caller has left, so the templates answer in time instead of DEADLINE_EXCEEDED."""
    fake_llm.behaviour.respond = answer_by_title
    fake_llm.behaviour.latency_s = 5.0
    before = counter("recgpt_agent_fallbacks_total", agent="explainer", reason="timeout")
    # The second call gets what the first left: the margin less the shortest call (0.05 s) is the slack.
    one_slot = settings.model_copy(update={"max_parallel_llm_calls": 1, "llm_deadline_margin_s": 0.5})
    async with serving(one_slot, fake_llm, redis_client) as service:
        request = pairs(("pipettes", EPPENDORF.item_id), ("glue", LOCTITE.item_id))
        reply = await service.stub.Explain(request, timeout=1.0)
    assert [(e.fallback, e.provenance.fallback) for e in reply.explanations] == [(True, True), (True, True)]
    assert reply.explanations[1].text.startswith("Matches your interest in glue: Loctite")
    assert counter("recgpt_agent_fallbacks_total", agent="explainer", reason="timeout") == before + 2


async def test_duplicate_pairs_are_explained_once(service: Running) -> None:
    service.llm.behaviour.respond = answer_by_title
    reply = await service.stub.Explain(pairs(("glue", LOCTITE.item_id), (" glue ", LOCTITE.item_id)))
    assert len(reply.explanations) == 1
    assert len(service.llm.seen) == 1


async def test_empty_requests_get_empty_answers(service: Running) -> None:
    reply = await service.stub.Explain(pairs())
    assert list(reply.explanations) == [] and service.llm.seen == []


async def test_bad_requests_are_invalid_arguments(service: Running) -> None:
    too_many = [("glue", LOCTITE.item_id)] * 101
    await expect_code(service.stub.Explain(pairs(*too_many)), grpc.StatusCode.INVALID_ARGUMENT, "at most 100")
    long_interest = ("x" * 201, LOCTITE.item_id)
    await expect_code(
        service.stub.Explain(pairs(long_interest)), grpc.StatusCode.INVALID_ARGUMENT, "longer than 200"
    )
    await expect_code(
        service.stub.Explain(pairs(("  ", LOCTITE.item_id))), grpc.StatusCode.INVALID_ARGUMENT, "empty"
    )
    assert service.llm.seen == []


async def test_llm_calls_are_bounded_by_the_semaphore(
    settings: ExplainSettings, fake_llm: FakeOpenAI, redis_client: aioredis.Redis
) -> None:
    fake_llm.behaviour.respond = answer_by_title
    fake_llm.behaviour.latency_s = 0.2
    bounded = settings.model_copy(update={"max_parallel_llm_calls": 1})
    async with serving(bounded, fake_llm, redis_client) as service:
        started = time.perf_counter()
        reply = await service.stub.Explain(
            pairs(("a", EPPENDORF.item_id), ("b", GORILLA.item_id), ("c", LOCTITE.item_id))
        )
        assert time.perf_counter() - started >= 0.6
    assert [e.fallback for e in reply.explanations] == [False, False, False]
