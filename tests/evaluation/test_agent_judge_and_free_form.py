"""The `agent_as_judge` scorer and the `free_form` set, on a fake LLM."""

from __future__ import annotations

import json
import random
from collections.abc import AsyncIterator
from typing import Any

import pytest

from evaluation.agent_judge_scorer import AgentJudgeScorer
from evaluation.discrimination_sets import Pair
from evaluation.free_form_set import META_PROMPTED, PROMPTED, Explainer, Written, build_free_form, made_up
from evaluation.judge_scorers import VerdictScorer
from recgpt_domain import grounding
from recgpt_domain.grounding import CatalogueVocabulary
from recgpt_serving.llm.client import LlmClient, LlmSettings
from tests.explain.catalogue import EPPENDORF, GORILLA, ITEMS, LOCTITE, PYREX
from tests.recgpt_serving.llm.fake_openai import FakeOpenAI

GOOD = "The Eppendorf Research Plus adjusts from 100 to 1000 uL for your pipettes."


@pytest.fixture
async def client(fake_llm: FakeOpenAI) -> AsyncIterator[LlmClient]:
    async with LlmClient(LlmSettings(endpoints=[fake_llm.base_url], model="smol")) as llm:
        yield llm


def panel(review: str = "superior") -> Any:
    def respond(body: dict[str, Any]) -> str:
        prompt = body["messages"][-1]["content"]
        if "Panel findings:" in prompt:
            return json.dumps({"verdict": review, "reason": "r"})
        if "Quality: " in prompt:
            return json.dumps({"passed": True, "reason": "ok"})
        return json.dumps({"relevance": True, "grounded": True, "reason": "v1"})

    return respond


def pair(false_text: str) -> Pair:
    return Pair("free_form", "explanation", GOOD, false_text, item=EPPENDORF, interest="Pipettes")


async def test_the_panel_ranks_the_true_explanation_first(client: LlmClient, fake_llm: FakeOpenAI) -> None:
    fake_llm.behaviour.respond = panel()
    scorer = AgentJudgeScorer(client, ITEMS, VerdictScorer(client, ITEMS))
    other = "Gorilla Glue bonds wood and stone for good."
    true, false = await scorer.score(pair(other), GOOD), await scorer.score(pair(other), other)
    assert true == 27.0, "superior, seven dimensions passed"
    assert false < 10.0, "bad"
    assert scorer.verdicts == {"superior": 1, "bad": 1} and not scorer.fallbacks
    asked = len(fake_llm.seen)
    await scorer.score(pair(other), GOOD)
    assert len(fake_llm.seen) == asked, "answers are kept by prompt"


async def test_a_reviewer_outside_its_grades_is_scored_by_the_v1_verdict(
    client: LlmClient, fake_llm: FakeOpenAI
) -> None:
    fake_llm.behaviour.respond = panel(review="bad")
    scorer = AgentJudgeScorer(client, ITEMS, VerdictScorer(client, ITEMS))
    assert await scorer.score(pair("x"), GOOD) == 13.0, "V1 passed all three: Average, 3 criteria"
    assert scorer.fallbacks == {"outside_schema": 1} and scorer.verdicts == {"v1_average": 1}


async def test_a_member_outside_its_schema_leaves_a_rule_defect_bad_without_the_v1_verdict(
    client: LlmClient, fake_llm: FakeOpenAI
) -> None:
    def respond(body: dict[str, Any]) -> str:
        if "Quality: " in body["messages"][-1]["content"]:
            return json.dumps({"verdict": "yes"})  # no member answers in its schema
        return json.dumps({"relevance": True, "grounded": True, "reason": "v1"})

    fake_llm.behaviour.respond = respond
    scorer = AgentJudgeScorer(client, ITEMS, VerdictScorer(client, ITEMS))
    invented = "A Gilson Research Plus pipette for your pipettes."
    assert await scorer.score(pair(invented), invented) == 0.0, "Bad on the rules' findings, none passed"
    assert scorer.verdicts == {"bad": 1} and not scorer.fallbacks
    assert scorer.member_failures == {"LlmOutputError": 1}
    # Without a rule's defect the V1 verdict still answers.
    assert await scorer.score(pair(invented), GOOD) == 13.0, "V1 passed all three: Average, 3 criteria"
    assert scorer.fallbacks == {"outside_schema": 1}


def test_made_up_attributes_break_grounding() -> None:
    vocabulary = CatalogueVocabulary.from_items(ITEMS)
    written = Written(EPPENDORF, "Pipettes", GOOD, PROMPTED)
    rng = random.Random(0)
    swapped = made_up(written, ["Gilson", "Pyrex"], rng, as_number=False)
    assert "Eppendorf" not in swapped and swapped != GOOD
    number = made_up(written, ["Gilson"], rng, as_number=True)
    assert number.startswith(GOOD[:-1]) and "-year warranty" in number
    for text in (swapped, number):
        assert grounding.check(text, EPPENDORF, vocabulary, interest="Pipettes"), text
    appended = made_up(
        Written(EPPENDORF, "Pipettes", "A precise pipette for you.", PROMPTED), ["Gilson"], rng, False
    )
    assert appended == "A precise pipette for you, by Gilson."


async def test_the_set_is_written_by_each_explainer_and_keeps_grounded_text(
    client: LlmClient, fake_llm: FakeOpenAI
) -> None:
    def respond(body: dict[str, Any]) -> str:
        prompt = body["messages"][-1]["content"]
        if '{"tone"' in prompt:
            return json.dumps({"tone": "warm", "stress": "name", "hook": "season"})
        for item in (EPPENDORF, GORILLA, LOCTITE, PYREX):
            if item.title[:30] in prompt:
                return json.dumps({"explanation": f"The {item.title[:30]} for you. And more."})
        return json.dumps({"explanation": "A Gilson pipette of 7 liters."})  # ungrounded for the others

    fake_llm.behaviour.respond = respond
    items = [EPPENDORF, GORILLA, LOCTITE, PYREX]
    explainers = [Explainer(PROMPTED), Explainer(META_PROMPTED)]
    pairs, written = await build_free_form(client, items, 4, seed=0, explainers=explainers, concurrency=2)
    assert len(written) == 4 and {w.explainer for w in written} == {PROMPTED, META_PROMPTED}
    assert all(w.text.endswith("for you.") for w in written), "the first sentence, as the service shows it"
    assert len(pairs) == 4
    for index, entry in enumerate(pairs):
        assert entry.true_text != entry.false_text and entry.item is not None
        if index % 2 == 0:
            assert entry.false_text in {w.text for w in written}, "another item's explanation"
    guided = [
        s
        for s in fake_llm.seen
        if "Style guideline: Tone: warm. Stress the item itself" in s.body["messages"][-1]["content"]
    ]
    assert guided, "the meta-prompted explainer writes to its guideline"


async def test_the_rules_alone_score_without_the_llm(client: LlmClient, fake_llm: FakeOpenAI) -> None:
    scorer = AgentJudgeScorer(client, ITEMS, VerdictScorer(client, ITEMS), rules_only=True)
    other = "Gorilla Glue bonds wood and stone for good."
    assert scorer.name == "agent_rules"
    assert await scorer.score(pair(other), GOOD) == 17.0, "average, seven dimensions passed"
    assert await scorer.score(pair(other), other) < 10.0
    assert fake_llm.seen == []
