"""RecGPT-V2 explanations over gRPC: a guideline of constrained choices, then the sentence naming the item;
cached per situation; a rejected sentence sampled again, then the V1 path when the guideline or the sentence
is unusable, and a Bad sentence never cached."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from prometheus_client import REGISTRY

from explain.prompts import PROMPT_VERSION, PROMPT_VERSION_V2
from explain.settings import ExplainSettings
from recgpt.explain.v1 import explain_pb2
from tests.explain.catalogue import EPPENDORF, GORILLA
from tests.explain.running import Running

GUIDED = "The Eppendorf Research Plus adjusts from 100 to 1000 uL, calm precision for your lab pipetting."
V1_TEXT = "This Eppendorf pipette handles 100 to 1000 uL for your precise liquid handling."
STYLE = {"tone": "calm", "stress": "brand", "hook": "time of day"}
GUIDELINE = "Tone: calm. Stress its brand, Eppendorf. Tie it to the evening."
# EPPENDORF's short name: a resampled sentence opens with it.
NAME = "Eppendorf Research Plus Pipette"


def writer(
    style: dict[str, str] | None = None, guided: str | list[str] = GUIDED, v1: str = V1_TEXT
) -> Callable[[dict[str, Any]], str | None]:
    """Answers the guideline prompt (STYLE, its hook "none" where the situation has no time of day), the
    guided prompt and V1's prompt apart; a list of guided sentences is answered one per call (the last one
    again once they run out)."""
    sentences = [guided] if isinstance(guided, str) else list(guided)

    def respond(body: dict[str, Any]) -> str | None:
        prompt = body["messages"][-1]["content"]
        if '{"tone"' in prompt:
            if style is not None:
                return json.dumps(style)
            hook = body["response_format"]["json_schema"]["schema"]["properties"]["hook"]
            offered = hook.get("enum", [hook.get("const")])  # one choice is written as a const
            return json.dumps(STYLE if STYLE["hook"] in offered else STYLE | {"hook": "none"})
        if prompt.startswith("Style guideline:"):
            return json.dumps({"explanation": sentences.pop(0) if len(sentences) > 1 else sentences[0]})
        return json.dumps({"explanation": v1})

    return respond


def is_guided(body: dict[str, Any]) -> bool:
    return bool(body["messages"][-1]["content"].startswith("Style guideline:"))


def guided_calls(service: Running) -> int:
    return sum(is_guided(s.body) for s in service.llm.seen)


def pattern(body: dict[str, Any]) -> str | None:
    """The sentence's pattern in the request's schema; None for the free sentence."""
    found: str | None = body["response_format"]["json_schema"]["schema"]["properties"]["explanation"].get(
        "pattern"
    )
    return found


def sentences(schema: str) -> float:
    return REGISTRY.get_sample_value("recgpt_explain_v2_sentences_total", {"schema": schema}) or 0.0


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
    style_body, guided_body = service.llm.seen[0].body, service.llm.seen[1].body
    style_prompt = style_body["messages"][-1]["content"]
    assert "season: winter; time of day: evening; shopper persona: home chemist" in style_prompt
    assert "- brand: Eppendorf" in style_prompt
    choices = style_body["response_format"]["json_schema"]["schema"]["properties"]
    assert choices["stress"]["enum"] == ["name", "brand", "detail", "description", "use"], "the item's own"
    assert choices["hook"]["enum"] == ["season", "time of day", "persona", "none"], "the situation's parts"
    guided_prompt = guided_body["messages"][-1]["content"]
    assert GUIDELINE in guided_prompt
    assert "names the Eppendorf Research Plus Pipette" in guided_prompt, "asked to name the item"
    assert style_body["temperature"] == 0.9
    assert style_body["frequency_penalty"] == guided_body["frequency_penalty"] == 0.4
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


async def test_an_unusable_or_unsafe_guideline_takes_the_v1_path(service: Running) -> None:
    for style, persona, reason in (
        ({"tone": "calm", "stress": "price", "hook": "none"}, "home chemist", "guideline_failed"),
        (STYLE | {"hook": "persona"}, "stupid shopper", "guideline_unsafe"),
    ):
        service.llm.behaviour.respond = writer(style=style)
        before = next_best(reason)
        reply = await service.stub.Explain(
            v2((f"lab pipetting {reason}", EPPENDORF.item_id), persona=persona)
        )
        [made] = reply.explanations
        assert (made.text, made.style) == (V1_TEXT, "")
        assert made.provenance.prompt_version == PROMPT_VERSION
        assert next_best(reason) == before + 1
        assert guided_calls(service) == 0, "no sentence is written to an unusable guideline"
        service.llm.seen.clear()


async def test_an_ungrounded_or_bad_sentence_is_sampled_again_then_takes_the_v1_path(
    service: Running, settings: ExplainSettings
) -> None:
    # Two free samples (the second the list's last), then the last resample, which opens with the short name
    # (its schema forces it): here it is still ungrounded or Bad.
    cases: tuple[tuple[list[str], str, dict[str, Any]], ...] = (
        (["A Gilson pipette for your lab pipetting.", f"The {NAME} by Gilson."], "ungrounded", {}),
        (["A pipette for your lab pipetting.", f"The {NAME} is the {NAME}."], "judged_bad", {}),
        (
            ["The Eppendorf Research Plus for summer lab pipetting.", f"The {NAME} for summer days."],
            "judged_bad",
            {"season": "winter"},
        ),
        # Cut at the bound, then an answer outside the resample's pattern (the engine's grammar prevents it).
        (["The Eppendorf Research Plus pipette " + "x" * 170, "A pipette. Two."], "explanation_failed", {}),
    )
    for case, (guided, reason, situation) in enumerate(cases):
        service.llm.behaviour.respond = writer(guided=guided)
        before = next_best(reason)
        reply = await service.stub.Explain(v2((f"lab pipetting {case}", EPPENDORF.item_id), **situation))
        assert [e.text for e in reply.explanations] == [V1_TEXT], guided
        assert next_best(reason) == before + 1, "counted once, for the last sample"
        assert guided_calls(service) == settings.sentence_attempts == 3
        service.llm.seen.clear()


async def test_a_resample_that_passes_is_the_answer(service: Running) -> None:
    free = "The Eppendorf Research Plus adjusts from 100 to 1000 uL, calm precision for lab pipetting."
    service.llm.behaviour.respond = writer(guided=["A pipette for your lab pipetting.", free])
    reply = await service.stub.Explain(v2(("lab pipetting", EPPENDORF.item_id)))
    assert [e.text for e in reply.explanations] == [free]
    assert reply.usage.prompt_tokens == 36, "three calls: the guideline and two samples"

    service.llm.seen.clear()
    named = f"The {NAME} adjusts from 100 to 1000 uL for your lab pipetting."
    bad = "A pipette for your lab pipetting."
    service.llm.behaviour.respond = writer(guided=[bad, bad, named])
    before = next_best("judged_bad"), sentences("named")
    reply = await service.stub.Explain(v2(("lab pipetting, again", EPPENDORF.item_id)))
    [made] = reply.explanations
    assert (made.text, made.fallback) == (named, False)
    assert made.provenance.prompt_version == PROMPT_VERSION_V2
    assert (next_best("judged_bad"), sentences("named")) == (before[0], before[1] + 1)
    assert reply.usage.prompt_tokens == 48, "four calls"
    patterns = [pattern(seen.body) for seen in service.llm.seen if is_guided(seen.body)]
    assert patterns[:2] == [None, None], "the first samples are free"
    assert patterns[2] is not None and patterns[2].startswith(f"^The {NAME} "), "the last one is named"
    temperatures = [seen.body["temperature"] for seen in service.llm.seen if is_guided(seen.body)]
    assert temperatures == [0.8, 0.8, 0.3], "the free samples warm, the named one cool"


async def test_a_bad_sentence_of_the_v1_path_is_served_but_never_cached(service: Running) -> None:
    bad = "Great for your wood repairs."  # grounded, but names nothing of the item
    service.llm.behaviour.respond = writer(style={"tone": "calm"}, v1=bad)
    reply = await service.stub.Explain(v2(("wood repairs", GORILLA.item_id)))
    [made] = reply.explanations
    assert made.text == bad and not made.cached
    cached = await service.stub.Explain(v2(("wood repairs", GORILLA.item_id), cache_only=True))
    assert list(cached.explanations) == []


async def test_the_v1_path_answer_is_cached_short_lived_for_the_v2_key(service: Running) -> None:
    service.llm.behaviour.respond = writer(style={"tone": "loud"})
    await service.stub.Explain(v2(("lab pipetting", EPPENDORF.item_id)))
    cached = await service.stub.Explain(v2(("lab pipetting", EPPENDORF.item_id), cache_only=True))
    assert [(e.text, e.cached, e.style) for e in cached.explanations] == [(V1_TEXT, True, "")]
