"""RecGPT-V2 explanations over gRPC: a guideline, then the sentence; cached per situation; the V1 path when
the guideline or the sentence is unusable, and a Bad sentence never cached."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from prometheus_client import REGISTRY

from explain.prompts import PROMPT_VERSION, PROMPT_VERSION_V2
from recgpt.explain.v1 import explain_pb2
from tests.explain.catalogue import EPPENDORF, GORILLA
from tests.explain.running import Running

GUIDED = "The Eppendorf Research Plus adjusts from 100 to 1000 uL, calm precision for your lab pipetting."
V1_TEXT = "This Eppendorf pipette handles 100 to 1000 uL for your precise liquid handling."
GUIDELINE = "Warm and precise; stress the adjustable volume for an evening at the bench."


def writer(
    guideline: str = GUIDELINE, guided: str = GUIDED, v1: str = V1_TEXT
) -> Callable[[dict[str, Any]], str | None]:
    """Answers the guideline prompt, the guided prompt and V1's prompt apart."""

    def respond(body: dict[str, Any]) -> str | None:
        prompt = body["messages"][-1]["content"]
        if '{"guideline"' in prompt:
            return json.dumps({"guideline": guideline})
        if prompt.startswith("Style guideline:"):
            return json.dumps({"explanation": guided})
        return json.dumps({"explanation": v1})

    return respond


def v2(*entries: tuple[str, str], cache_only: bool = False, **situation: str) -> explain_pb2.ExplainRequest:
    return explain_pb2.ExplainRequest(
        user_id="u1",
        method=explain_pb2.METHOD_RECGPT_V2,
        pairs=[explain_pb2.ExplainPair(interest=i, item_id=item) for i, item in entries],
        cache_only=cache_only,
        situation=situation,
    )


def next_best(reason: str) -> float:
    return REGISTRY.get_sample_value("recgpt_explain_v2_fallbacks_total", {"reason": reason}) or 0.0


async def test_a_guideline_then_the_sentence_cached_per_situation(service: Running) -> None:
    service.llm.behaviour.respond = writer()
    evening: dict[str, Any] = {"season": "winter", "time_of_day": "evening", "persona": "home chemist"}
    reply = await service.stub.Explain(v2(("lab pipetting", EPPENDORF.item_id), **evening))
    [made] = reply.explanations
    assert (made.text, made.style, made.cached, made.fallback) == (GUIDED, GUIDELINE, False, False)
    assert made.provenance.prompt_version == PROMPT_VERSION_V2
    style_prompt = service.llm.seen[0].body["messages"][-1]["content"]
    assert "season: winter; time of day: evening; shopper persona: home chemist" in style_prompt
    assert GUIDELINE in service.llm.seen[1].body["messages"][-1]["content"]
    assert service.llm.seen[0].body["temperature"] == 0.9
    assert reply.usage.prompt_tokens == 24, "two calls"

    again = await service.stub.Explain(v2(("lab pipetting", EPPENDORF.item_id), cache_only=True, **evening))
    assert [(e.text, e.style, e.cached) for e in again.explanations] == [(GUIDED, GUIDELINE, True)]
    morning = await service.stub.Explain(
        v2(("lab pipetting", EPPENDORF.item_id), cache_only=True, season="winter")
    )
    assert list(morning.explanations) == [], "another situation is another guideline"
    v1 = await service.stub.Explain(
        explain_pb2.ExplainRequest(
            user_id="u1", pairs=[explain_pb2.ExplainPair(interest="lab pipetting", item_id=EPPENDORF.item_id)]
        )
    )
    assert v1.explanations[0].text == V1_TEXT, "V1 keeps its own entries"
    assert len(service.llm.seen) == 3


async def test_an_empty_or_unsafe_guideline_takes_the_v1_path(service: Running) -> None:
    for guideline, reason in (
        ("...", "guideline_empty"),
        ("Say this miracle cure beats all", "guideline_unsafe"),
    ):
        service.llm.behaviour.respond = writer(guideline=guideline)
        before = next_best(reason)
        reply = await service.stub.Explain(v2((f"lab pipetting {reason}", EPPENDORF.item_id)))
        [made] = reply.explanations
        assert (made.text, made.style) == (V1_TEXT, "")
        assert made.provenance.prompt_version == PROMPT_VERSION
        assert next_best(reason) == before + 1
        assert not any(
            s.body["messages"][-1]["content"].startswith("Style guideline:") for s in service.llm.seen
        ), "no sentence is written to an unusable guideline"
        service.llm.seen.clear()


async def test_an_ungrounded_or_bad_sentence_takes_the_v1_path(service: Running) -> None:
    cases: tuple[tuple[str, str, dict[str, Any]], ...] = (
        ("A Gilson pipette for your lab pipetting.", "ungrounded", {}),
        ("A pipette for your lab pipetting.", "judged_bad", {}),
        ("The Eppendorf Research Plus for summer lab pipetting.", "judged_bad", {"season": "winter"}),
    )
    for case, (guided, reason, situation) in enumerate(cases):
        service.llm.behaviour.respond = writer(guided=guided)
        before = next_best(reason)
        reply = await service.stub.Explain(v2((f"lab pipetting {case}", EPPENDORF.item_id), **situation))
        assert [e.text for e in reply.explanations] == [V1_TEXT], guided
        assert next_best(reason) == before + 1


async def test_a_bad_sentence_of_the_v1_path_is_served_but_never_cached(service: Running) -> None:
    bad = "Great for your wood repairs."  # grounded, but names nothing of the item
    service.llm.behaviour.respond = writer(guideline="", v1=bad)
    reply = await service.stub.Explain(v2(("wood repairs", GORILLA.item_id)))
    [made] = reply.explanations
    assert made.text == bad and not made.cached
    cached = await service.stub.Explain(v2(("wood repairs", GORILLA.item_id), cache_only=True))
    assert list(cached.explanations) == []


async def test_the_v1_path_answer_is_cached_short_lived_for_the_v2_key(service: Running) -> None:
    service.llm.behaviour.respond = writer(guideline="...")
    await service.stub.Explain(v2(("lab pipetting", EPPENDORF.item_id)))
    cached = await service.stub.Explain(v2(("lab pipetting", EPPENDORF.item_id), cache_only=True))
    assert [(e.text, e.cached, e.style) for e in cached.explanations] == [(V1_TEXT, True, "")]
