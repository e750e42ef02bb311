"""The V1 judge over gRPC: pass, fail or unavailable per artefact, verdict metrics, rule-based grounding."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import grpc
import pytest
import redis.asyncio as aioredis
from prometheus_client import REGISTRY

from judge.prompts import PROMPT_VERSION
from recgpt.common.v1 import common_pb2
from recgpt.judge.v1 import judge_pb2
from recgpt_domain.catalogue import Interaction
from tests.explain.catalogue import EPPENDORF, GORILLA, LOCTITE
from tests.judge.running import Judge, count, explanation, judge_settings, running_judge
from tests.recgpt_serving.llm.fake_openai import FakeOpenAI

PASS_ALL = json.dumps(
    {"relevance": True, "specificity": True, "validity": True, "grounded": True, "reason": "fits well"}
)


def fallbacks(reason: str) -> float:
    return (
        REGISTRY.get_sample_value("recgpt_agent_fallbacks_total", {"agent": "judge", "reason": reason}) or 0.0
    )


def interests(*texts: str, **fields: Any) -> judge_pb2.JudgeRequest:
    return judge_pb2.JudgeRequest(
        interests=judge_pb2.Interests(interests=[common_pb2.Interest(interest=t) for t in texts]), **fields
    )


def answer_by_interest(body: dict[str, Any]) -> str | None:
    """Passes "lab pipetting", fails "shopping" on specificity, breaks on "broken"."""
    prompt = body["messages"][-1]["content"]
    if "Mined interest: broken" in prompt:
        return "not json"
    specific = "Mined interest: shopping" not in prompt
    return json.dumps(
        {"relevance": True, "specificity": specific, "reason": "ok" if specific else "too vague"}
    )


async def expect_code(call: object, code: grpc.StatusCode, fragment: str) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call  # type: ignore[misc]
    assert caught.value.code() == code
    assert fragment in (caught.value.details() or "")


async def test_interests_pass_fail_or_are_unavailable_each(judge: Judge) -> None:
    judge.llm.behaviour.respond = answer_by_interest
    before = {v: count("interest", v, "offline") for v in ("pass", "fail", "unavailable")}
    behaviour = [common_pb2.Interaction(item_id=EPPENDORF.item_id, behaviour="purchase")]
    request = interests("lab pipetting", "shopping", "broken", behaviour=behaviour, source="offline")
    reply = await judge.stub.Judge(request)

    assert [(j.index, j.verdict) for j in reply.judgements] == [
        (0, judge_pb2.VERDICT_PASS),
        (1, judge_pb2.VERDICT_FAIL),
        (2, judge_pb2.VERDICT_UNSPECIFIED),
    ]
    passed, failed, unavailable = reply.judgements
    assert [(d.dimension, d.passed) for d in passed.dimensions] == [
        ("relevance", True),
        ("specificity", True),
    ]
    assert [(d.dimension, d.passed) for d in failed.dimensions] == [
        ("relevance", True),
        ("specificity", False),
    ]
    assert failed.reason == "too vague"
    assert unavailable.reason == "judge unavailable: invalid_json"
    assert list(unavailable.dimensions) == []
    for verdict, delta in (("pass", 1), ("fail", 1), ("unavailable", 1)):
        assert count("interest", verdict, "offline") == before[verdict] + delta

    assert reply.provenance.model == "smol" and reply.provenance.prompt_version == PROMPT_VERSION
    assert reply.provenance.fallback, "one judgement is not the LLM's"
    assert reply.usage.prompt_tokens == 36, "three calls of 12 prompt tokens, the unusable answer included"
    assert reply.usage.completion_tokens == 21 and reply.usage.engine_seconds > 0
    sent = judge.llm.seen[0].body
    assert sent["max_tokens"] == 60
    assert "Eppendorf Research Plus Pipette" in sent["messages"][-1]["content"], "behaviour in the prompt"
    assert sent["response_format"]["json_schema"]["schema"]["properties"]["reason"]["maxLength"] == 100


async def test_behaviour_is_read_from_redis_when_the_request_has_none(judge: Judge) -> None:
    judge.llm.behaviour.content = PASS_ALL
    await judge.store.append("u7", [Interaction(item_id=GORILLA.item_id, timestamp=10)])
    await judge.stub.Judge(interests("wood repairs", user_id="u7", source="live"))
    assert "Gorilla Original Gorilla Glue" in judge.llm.seen[0].body["messages"][-1]["content"]


async def test_tags_are_judged_on_validity_too(judge: Judge) -> None:
    judge.llm.behaviour.content = json.dumps(
        {"relevance": True, "specificity": True, "validity": False, "reason": "not a product"}
    )
    before = count("tag", "fail", "unspecified")
    request = judge_pb2.JudgeRequest(
        tags=judge_pb2.Tags(tags=[common_pb2.Tag(tag="happiness", interest="lab work")]), source="other"
    )
    reply = await judge.stub.Judge(request)
    [judgement] = reply.judgements
    assert judgement.verdict == judge_pb2.VERDICT_FAIL
    assert [d.dimension for d in judgement.dimensions] == ["relevance", "specificity", "validity"]
    assert count("tag", "fail", "unspecified") == before + 1, "an unknown source is 'unspecified'"
    assert "Predicted item tag: happiness" in judge.llm.seen[0].body["messages"][-1]["content"]


async def test_explanations_add_the_rule_based_grounding(judge: Judge) -> None:
    judge.llm.behaviour.content = PASS_ALL
    before = count("explanation", "fail", "live")
    request = judge_pb2.JudgeRequest(
        explanations=judge_pb2.Explanations(
            explanations=[
                explanation("lab pipetting", EPPENDORF.item_id, "An Eppendorf pipette for 100 to 1000 uL."),
                # The LLM says it is grounded; the rules know Gilson is another brand of the catalogue.
                explanation("lab pipetting", EPPENDORF.item_id, "A Gilson pipette for your lab."),
            ]
        ),
        source="live",
    )
    reply = await judge.stub.Judge(request)
    grounded, invented = reply.judgements
    assert grounded.verdict == judge_pb2.VERDICT_PASS
    assert [(d.dimension, d.passed) for d in grounded.dimensions] == [
        ("relevance", True),
        ("grounded", True),
        ("grounded_facts", True),
    ]
    assert invented.verdict == judge_pb2.VERDICT_FAIL
    assert [(d.dimension, d.passed, d.reason) for d in invented.dimensions][-1] == (
        "grounded_facts",
        False,
        "foreign_brand",
    )
    assert "grounding: foreign_brand" in invented.reason
    assert count("explanation", "fail", "live") == before + 1
    prompts = [seen.body["messages"][-1]["content"] for seen in judge.llm.seen]
    assert any("Explanation shown to the user: A Gilson pipette" in prompt for prompt in prompts)


async def test_an_explanation_of_a_bare_item_is_checked_against_the_catalogue(judge: Judge) -> None:
    judge.llm.behaviour.content = PASS_ALL
    subject = judge_pb2.ExplanationSubject(
        interest="glue", item=common_pb2.Item(item_id=LOCTITE.item_id), text="Loctite gel, 12 oz."
    )
    reply = await judge.stub.Judge(
        judge_pb2.JudgeRequest(explanations=judge_pb2.Explanations(explanations=[subject]))
    )
    assert reply.judgements[0].dimensions[-1].reason == "invented_number"


async def test_an_empty_explanation_fails_without_an_llm_call(judge: Judge) -> None:
    request = judge_pb2.JudgeRequest(
        explanations=judge_pb2.Explanations(explanations=[explanation("glue", LOCTITE.item_id, " ")])
    )
    before = fallbacks("empty_subject")
    reply = await judge.stub.Judge(request)
    assert reply.judgements[0].verdict == judge_pb2.VERDICT_FAIL
    assert reply.provenance.fallback
    assert judge.llm.seen == []
    assert fallbacks("empty_subject") == before + 1


async def test_an_unreachable_llm_leaves_explanations_unjudged(judge: Judge) -> None:
    judge.llm.behaviour.mode = "status"
    judge.llm.behaviour.status = 400
    before = count("explanation", "unavailable", "offline")
    request = judge_pb2.JudgeRequest(
        explanations=judge_pb2.Explanations(
            explanations=[explanation("glue", LOCTITE.item_id, "Loctite gel super glue for repairs.")]
        ),
        source="offline",
    )
    reply = await judge.stub.Judge(request)
    [judgement] = reply.judgements
    assert judgement.verdict == judge_pb2.VERDICT_UNSPECIFIED
    assert judgement.reason == "judge unavailable: rejected"
    assert reply.provenance.fallback
    assert [d.dimension for d in judgement.dimensions] == ["grounded_facts"]
    assert count("explanation", "unavailable", "offline") == before + 1


async def test_bad_requests_are_invalid_arguments(judge: Judge) -> None:
    invalid = grpc.StatusCode.INVALID_ARGUMENT
    await expect_code(judge.stub.Judge(judge_pb2.JudgeRequest()), invalid, "set one of interests")
    await expect_code(judge.stub.Judge(interests(*["x"] * 65)), invalid, "at most 64")
    await expect_code(judge.stub.Judge(interests("ok", " ")), invalid, "interests[1] is empty")
    bare = judge_pb2.ExplanationSubject(interest="glue", text="Some glue.")
    request = judge_pb2.JudgeRequest(explanations=judge_pb2.Explanations(explanations=[bare]))
    await expect_code(judge.stub.Judge(request), invalid, "has no item_id")
    assert judge.llm.seen == []


async def test_64_artefacts_are_judged(judge: Judge) -> None:
    judge.llm.behaviour.content = PASS_ALL
    reply = await judge.stub.Judge(interests(*[f"interest {n}" for n in range(64)]))
    assert [j.index for j in reply.judgements] == list(range(64))
    assert {j.verdict for j in reply.judgements} == {judge_pb2.VERDICT_PASS}
    assert not reply.provenance.fallback and reply.provenance.adapter == ""


async def test_a_short_caller_deadline_leaves_artefacts_unjudged_in_time(judge: Judge) -> None:
    """The LLM answers after the caller's deadline: each call is cut to fit, the answer comes in time."""
    judge.llm.behaviour.content = PASS_ALL
    judge.llm.behaviour.latency_s = 5.0
    before = fallbacks("timeout")
    reply = await judge.stub.Judge(interests("lab pipetting", "wood repairs"), timeout=1.0)
    assert [(j.verdict, j.reason) for j in reply.judgements] == [
        (judge_pb2.VERDICT_UNSPECIFIED, "judge unavailable: timeout")
    ] * 2
    assert reply.provenance.fallback
    assert fallbacks("timeout") == before + 2


def likelier_with_context(body: dict[str, Any]) -> float:
    """Each token of the artefact: likelier when the question quotes item facts (or "Glue" behaviour)."""
    question = body["messages"][-2]["content"]
    text = body["messages"][-1]["content"]
    if "Item facts:" in question:
        return -0.5
    if "What the shopper did:" in question:
        return -0.5 if "glue" in text.casefold() else -2.0
    return -1.0


async def test_likelihood_judging_adds_a_dimension_that_can_fail_the_verdict(
    tmp_path: Path, redis_url: str, redis_prefix: str, redis_client: aioredis.Redis, fake_llm: FakeOpenAI
) -> None:
    fake_llm.behaviour.content = PASS_ALL
    fake_llm.behaviour.token_logprob = likelier_with_context
    settings = judge_settings(tmp_path, redis_url, redis_prefix, judge_likelihood=True)
    async with running_judge(settings, fake_llm, redis_client, redis_prefix) as judge:
        explained = await judge.stub.Judge(
            judge_pb2.JudgeRequest(
                explanations=judge_pb2.Explanations(
                    explanations=[explanation("lab", EPPENDORF.item_id, "An Eppendorf pipette for labs.")]
                )
            )
        )
        tags = await judge.stub.Judge(
            judge_pb2.JudgeRequest(
                behaviour=[common_pb2.Interaction(item_id=LOCTITE.item_id)],
                tags=judge_pb2.Tags(
                    tags=[common_pb2.Tag(tag="super glue"), common_pb2.Tag(tag="solar panel")]
                ),
            )
        )
    [judged] = explained.judgements
    assert judged.verdict == judge_pb2.VERDICT_PASS
    assert (judged.dimensions[-1].dimension, judged.dimensions[-1].passed) == ("fits_context", True)
    glue, solar = tags.judgements
    assert (glue.verdict, solar.verdict) == (judge_pb2.VERDICT_PASS, judge_pb2.VERDICT_FAIL)
    assert solar.dimensions[-1].dimension == "fits_context" and not solar.dimensions[-1].passed
    assert solar.dimensions[-1].reason.startswith("pmi -")


def says_yes_to_glue(body: dict[str, Any]) -> dict[str, float]:
    """First-token logprobs: Yes for a glue tag (or any explanation), No for anything else."""
    question = body["messages"][-1]["content"]
    likes = "Explanation:" in question or "Proposed product tag: super glue" in question
    return {"Yes": -0.1, "No": -2.5} if likes else {"Yes": -2.5, " No": -0.1}


async def test_the_verdict_dimension_asks_the_verdict_agent_and_can_fail_the_verdict(
    tmp_path: Path, redis_url: str, redis_prefix: str, redis_client: aioredis.Redis, fake_llm: FakeOpenAI
) -> None:
    fake_llm.behaviour.content = PASS_ALL
    fake_llm.behaviour.first_token_logprobs = says_yes_to_glue
    settings = judge_settings(tmp_path, redis_url, redis_prefix, judge_verdict=True)
    async with running_judge(settings, fake_llm, redis_client, redis_prefix) as judge:
        tags = await judge.stub.Judge(
            judge_pb2.JudgeRequest(
                behaviour=[common_pb2.Interaction(item_id=LOCTITE.item_id)],
                tags=judge_pb2.Tags(
                    tags=[common_pb2.Tag(tag="super glue"), common_pb2.Tag(tag="solar panel")]
                ),
            )
        )
    glue, solar = tags.judgements
    assert (glue.verdict, solar.verdict) == (judge_pb2.VERDICT_PASS, judge_pb2.VERDICT_FAIL)
    assert (glue.dimensions[-1].dimension, glue.dimensions[-1].passed) == ("verdict", True)
    assert solar.dimensions[-1].reason == "yes-no log-odds -2.40"
    # Asked with the yes/no question, apart from the criteria prompt (whose answers come without logprobs).
    asked = [seen.body for seen in fake_llm.seen if seen.body.get("logprobs")]
    assert len(asked) == 2 and all("Answer Yes or No." in body["messages"][-1]["content"] for body in asked)
