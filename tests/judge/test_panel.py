"""Agent-as-a-judge over gRPC (METHOD_RECGPT_V2): rules, concurrent sub-evaluators, the reviewer, and the V1
judge as the next-best path when the panel fails or answers outside its schema."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis
from prometheus_client import REGISTRY

from judge.prompts import PANEL_PROMPT_VERSION, PROMPT_VERSION
from recgpt.common.v1 import common_pb2
from recgpt.judge.v1 import judge_pb2
from recgpt_domain.judge_panel import EXPLANATION_DIMENSIONS, TAG_DIMENSIONS
from tests.explain.catalogue import EPPENDORF
from tests.judge.running import Judge, count, explanation, judge_settings, running_judge
from tests.recgpt_serving.llm.fake_openai import FakeOpenAI

GROUNDED = "The Eppendorf Research Plus adjusts from 100 to 1000 uL for your lab pipetting."
V1_PASS = json.dumps(
    {"relevance": True, "grounded": True, "specificity": True, "validity": True, "reason": "ok"}
)


def panel(
    failing: tuple[str, ...] = (), review: dict[str, Any] | None = None, broken: str = ""
) -> Callable[[dict[str, Any]], str | None]:
    """Members pass all but `failing` (`broken` answers outside its schema); the reviewer says `review`;
    the V1 judge passes everything."""

    def respond(body: dict[str, Any]) -> str | None:
        prompt = body["messages"][-1]["content"]
        if "Panel findings:" in prompt:
            return json.dumps(review or {"verdict": "superior", "reason": "vivid and exact"})
        if "Quality: " in prompt:
            dimension = prompt.split("Quality: ")[1].split(".")[0]
            if dimension == broken:
                return json.dumps({"verdict": "yes"})
            return json.dumps({"passed": dimension not in failing, "reason": f"{dimension} checked"})
        return V1_PASS

    return respond


def calls(judge: Judge, marker: str) -> int:
    return sum(1 for seen in judge.llm.seen if marker in seen.body["messages"][-1]["content"])


def fallbacks(subject: str, reason: str) -> float:
    labels = {"subject": subject, "reason": reason}
    return REGISTRY.get_sample_value("recgpt_judge_panel_fallbacks_total", labels) or 0.0


def v2(*subjects: judge_pb2.ExplanationSubject, **situation: str) -> judge_pb2.JudgeRequest:
    return judge_pb2.JudgeRequest(
        method=judge_pb2.METHOD_RECGPT_V2,
        explanations=judge_pb2.Explanations(explanations=list(subjects)),
        situation=situation,
        source="offline",
    )


async def test_every_member_and_the_reviewer_make_a_superior_verdict(judge: Judge) -> None:
    judge.llm.behaviour.respond = panel()
    before = count("explanation", "superior", "offline")
    reply = await judge.stub.Judge(v2(explanation("lab pipetting", EPPENDORF.item_id, GROUNDED)))
    [judgement] = reply.judgements
    assert judgement.verdict == judge_pb2.VERDICT_SUPERIOR
    assert judgement.reason == "vivid and exact" and judgement.fallback_reason == ""
    assert [(d.dimension, d.passed) for d in judgement.dimensions] == [
        (d, True) for d in EXPLANATION_DIMENSIONS
    ]
    assert calls(judge, "Quality: ") == 7 and calls(judge, "Panel findings:") == 1
    assert count("explanation", "superior", "offline") == before + 1
    assert reply.provenance.prompt_version == PANEL_PROMPT_VERSION and not reply.provenance.fallback
    assert reply.usage.prompt_tokens == 8 * 12, "seven members and the reviewer"
    schema = judge.llm.seen[0].body["response_format"]["json_schema"]["schema"]
    assert set(schema["properties"]) == {"passed", "reason"}


async def test_a_rule_defect_is_bad_without_asking_its_member_or_the_reviewer(judge: Judge) -> None:
    judge.llm.behaviour.respond = panel()
    invented = explanation(
        "lab pipetting", EPPENDORF.item_id, "A Gilson Research Plus pipette for lab pipetting."
    )
    reply = await judge.stub.Judge(v2(invented))
    [judgement] = reply.judgements
    assert judgement.verdict == judge_pb2.VERDICT_BAD
    failing = {d.dimension: d.reason for d in judgement.dimensions if not d.passed}
    assert failing == {"factuality": "rule: foreign_brand"}
    assert judgement.reason == "failing: factuality"
    assert calls(judge, "Quality: factuality") == 0 and calls(judge, "Panel findings:") == 0
    assert calls(judge, "Quality: ") == 6


async def test_a_member_that_fails_its_dimension_makes_it_bad(judge: Judge) -> None:
    judge.llm.behaviour.respond = panel(failing=("attractiveness",))
    reply = await judge.stub.Judge(v2(explanation("lab pipetting", EPPENDORF.item_id, GROUNDED)))
    [judgement] = reply.judgements
    assert judgement.verdict == judge_pb2.VERDICT_BAD
    assert judgement.reason == "failing: attractiveness"
    assert calls(judge, "Panel findings:") == 0


async def test_the_situation_reaches_the_timeliness_rule_and_the_prompt(judge: Judge) -> None:
    judge.llm.behaviour.respond = panel()
    summer = explanation(
        "lab pipetting", EPPENDORF.item_id, "The Eppendorf Research Plus pipette for summer lab work."
    )
    reply = await judge.stub.Judge(v2(summer, season="winter", time_of_day="evening"))
    [judgement] = reply.judgements
    assert judgement.verdict == judge_pb2.VERDICT_BAD
    assert [d.reason for d in judgement.dimensions if not d.passed] == ["rule: names summer in winter"]
    assert "season: winter; time of day: evening" in judge.llm.seen[0].body["messages"][-1]["content"]


async def test_the_reviewer_grades_and_cannot_call_bad_what_every_member_passed(judge: Judge) -> None:
    judge.llm.behaviour.respond = panel(review={"verdict": "average", "reason": "plain"})
    reply = await judge.stub.Judge(v2(explanation("lab pipetting", EPPENDORF.item_id, GROUNDED)))
    assert reply.judgements[0].verdict == judge_pb2.VERDICT_AVERAGE
    [review] = [s.body for s in judge.llm.seen if "Panel findings:" in s.body["messages"][-1]["content"]]
    schema = review["response_format"]["json_schema"]["schema"]
    assert schema["properties"]["verdict"]["enum"] == ["superior", "average"]


async def test_a_reviewer_answering_bad_anyway_hands_the_artefact_to_the_v1_judge(judge: Judge) -> None:
    judge.llm.behaviour.respond = panel(review={"verdict": "bad", "reason": "meh"})
    before = fallbacks("explanation", "outside_schema")
    reply = await judge.stub.Judge(v2(explanation("lab pipetting", EPPENDORF.item_id, GROUNDED)))
    [judgement] = reply.judgements
    assert judgement.verdict == judge_pb2.VERDICT_PASS, "the V1 judge's verdict"
    assert judgement.fallback_reason == "outside_schema"
    assert [d.dimension for d in judgement.dimensions] == ["relevance", "grounded", "grounded_facts"]
    assert fallbacks("explanation", "outside_schema") == before + 1
    assert reply.provenance.fallback
    assert reply.usage.prompt_tokens == 9 * 12, "the panel's eight calls and the V1 judge's one"


async def test_a_member_outside_its_schema_hands_it_to_the_v1_judge(judge: Judge) -> None:
    judge.llm.behaviour.respond = panel(broken="clarity")
    before = fallbacks("explanation", "outside_schema")
    reply = await judge.stub.Judge(v2(explanation("lab pipetting", EPPENDORF.item_id, GROUNDED)))
    [judgement] = reply.judgements
    assert judgement.verdict == judge_pb2.VERDICT_PASS and judgement.fallback_reason == "outside_schema"
    assert fallbacks("explanation", "outside_schema") == before + 1


async def test_a_member_failing_where_a_rule_found_a_defect_leaves_it_bad_by_the_rules(judge: Judge) -> None:
    judge.llm.behaviour.respond = panel(broken="clarity")
    invented = explanation(
        "lab pipetting", EPPENDORF.item_id, "A Gilson Research Plus pipette for lab pipetting."
    )
    labels = {"subject": "explanation", "reason": "outside_schema"}

    def member_failures() -> float:
        return REGISTRY.get_sample_value("recgpt_judge_panel_member_failures_total", labels) or 0.0

    failed_before = member_failures()
    handed_over = fallbacks("explanation", "outside_schema")

    reply = await judge.stub.Judge(v2(invented))

    [judgement] = reply.judgements
    assert judgement.verdict == judge_pb2.VERDICT_BAD and not judgement.fallback_reason
    assert [(d.dimension, d.passed, d.reason) for d in judgement.dimensions] == [
        ("factuality", False, "rule: foreign_brand")
    ]
    assert judgement.reason == "failing: factuality"
    assert member_failures() == failed_before + 1
    assert fallbacks("explanation", "outside_schema") == handed_over
    assert calls(judge, "Panel findings:") == 0


async def test_a_member_out_of_time_degrades_to_an_unavailable_verdict(
    tmp_path: Path, redis_url: str, redis_prefix: str, redis_client: aioredis.Redis, fake_llm: FakeOpenAI
) -> None:
    fake_llm.behaviour.respond = panel()
    fake_llm.behaviour.latency_s = 0.5
    settings = judge_settings(tmp_path, redis_url, redis_prefix, llm_deadline_s=0.1)
    async with running_judge(settings, fake_llm, redis_client, redis_prefix) as judge:
        before = fallbacks("explanation", "timeout")
        reply = await judge.stub.Judge(v2(explanation("lab pipetting", EPPENDORF.item_id, GROUNDED)))
    [judgement] = reply.judgements
    assert judgement.fallback_reason == "timeout"
    assert judgement.verdict == judge_pb2.VERDICT_UNSPECIFIED, "the V1 judge ran out of time as well"
    assert fallbacks("explanation", "timeout") == before + 1


async def test_tags_get_their_four_dimensions(judge: Judge) -> None:
    judge.llm.behaviour.respond = panel(review={"verdict": "average", "reason": "plain"})
    behaviour = [common_pb2.Interaction(item_id=EPPENDORF.item_id, behaviour="purchase")]
    request = judge_pb2.JudgeRequest(
        method=judge_pb2.METHOD_RECGPT_V2,
        behaviour=behaviour,
        tags=judge_pb2.Tags(
            tags=[
                common_pb2.Tag(tag="adjustable pipette", interest="lab work"),
                common_pb2.Tag(tag="garden hose"),
            ]
        ),
    )
    reply = await judge.stub.Judge(request)
    fitting, stranger = reply.judgements
    assert fitting.verdict == judge_pb2.VERDICT_AVERAGE
    assert [d.dimension for d in fitting.dimensions] == list(TAG_DIMENSIONS)
    assert stranger.verdict == judge_pb2.VERDICT_BAD
    assert [d.dimension for d in stranger.dimensions if not d.passed] == ["relevance"]
    assert reply.provenance.prompt_version == PANEL_PROMPT_VERSION


async def test_interests_are_judged_as_v1_does(judge: Judge) -> None:
    judge.llm.behaviour.respond = panel()
    behaviour = [common_pb2.Interaction(item_id=EPPENDORF.item_id, behaviour="purchase")]
    request = judge_pb2.JudgeRequest(
        method=judge_pb2.METHOD_RECGPT_V2,
        behaviour=behaviour,
        interests=judge_pb2.Interests(interests=[common_pb2.Interest(interest="lab pipetting")]),
    )
    reply = await judge.stub.Judge(request)
    assert reply.judgements[0].verdict == judge_pb2.VERDICT_PASS
    assert reply.provenance.prompt_version == PROMPT_VERSION
