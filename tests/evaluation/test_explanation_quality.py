"""RecGPT-V2's explanation figures: diversity per source, verdict shares, all seven passed, cost per user."""

from __future__ import annotations

import pytest

from evaluation.explanation_quality import (
    LlmCost,
    explanation_figures,
    judge_request,
    own_source,
    record,
)
from explain.prompts import PROMPT_VERSION, PROMPT_VERSION_V2
from recgpt.common.v1 import common_pb2
from recgpt.explain.v1 import explain_pb2
from recgpt.judge.v1 import judge_pb2
from recgpt_domain.judge_panel import EXPLANATION_DIMENSIONS
from recgpt_domain.messages import item_to_pb
from tests.explain.catalogue import BY_ID, EPPENDORF, GORILLA


def served(
    item_id: str, text: str, version: str = PROMPT_VERSION_V2, template: bool = False
) -> explain_pb2.Explanation:
    return explain_pb2.Explanation(
        interest="lab",
        item_id=item_id,
        text=text,
        fallback=template,
        provenance=common_pb2.Provenance(prompt_version=version, fallback=template),
    )


def judged(verdict: judge_pb2.Verdict, failing: tuple[str, ...] = ()) -> judge_pb2.Judgement:
    return judge_pb2.Judgement(
        verdict=verdict,
        dimensions=[
            judge_pb2.DimensionScore(dimension=d, passed=d not in failing) for d in EXPLANATION_DIMENSIONS
        ],
    )


def test_sources_diversity_verdicts_and_cost() -> None:
    records = [
        record(
            served(EPPENDORF.item_id, "calm precision for your bench work"),
            judged(judge_pb2.VERDICT_SUPERIOR),
        ),
        record(
            served(EPPENDORF.item_id, "a volume dial that makes evening assays easy"),
            judged(judge_pb2.VERDICT_AVERAGE),
        ),
        record(
            served(EPPENDORF.item_id, "a volume dial that makes evening assays easy", PROMPT_VERSION),
            judged(judge_pb2.VERDICT_BAD, ("attractiveness",)),
        ),
        record(served(GORILLA.item_id, "Matches your interest in lab: Gorilla Glue.", template=True), None),
        record(
            served(GORILLA.item_id, "Matches your interest in lab: Gorilla Glue.", template=True),
            judge_pb2.Judgement(verdict=judge_pb2.VERDICT_PASS, fallback_reason="contradiction"),
        ),
    ]
    figures = explanation_figures(
        records, users=2, explaining=LlmCost(1000, 200, 4.0), judging=LlmCost(3000, 300, 9.0)
    )
    assert figures.sources == {"meta_prompted": 0.4, "v1_llm": 0.2, "template": 0.4}
    assert figures.own_source == "meta_prompted" and figures.fallback_share == 0.6
    as_v1 = explanation_figures(records, 2, LlmCost(), LlmCost(), own_source(explain_pb2.METHOD_RECGPT_V1))
    assert as_v1.fallback_share == 0.8, "V1's own texts are its LLM's: one of five"
    assert figures.diversity["template"].value == 0.0, "identical templates"
    meta = figures.diversity["meta_prompted"]
    assert (meta.items, meta.pairs) == (1, 1) and meta.value is not None and meta.value > 0.8
    llm = figures.diversity["llm"]
    assert llm.pairs == 3 and llm.value is not None and llm.value < meta.value, "the V1 path repeats one text"
    assert figures.diversity["v1_llm"].value is None, "one text per item says nothing"
    assert figures.judged == 4
    assert figures.verdicts == {"average": 0.25, "bad": 0.25, "superior": 0.25, "v1_pass": 0.25}
    assert figures.all_seven_passed == 0.5
    assert figures.panel_fallbacks == {"contradiction": 1}
    assert figures.cost_per_user["explain"].prompt_tokens == 500.0
    assert figures.cost_per_user["judge"].engine_seconds == pytest.approx(4.5)


def test_nothing_judged_reports_no_share() -> None:
    figures = explanation_figures([], users=0, explaining=LlmCost(), judging=LlmCost())
    assert figures.all_seven_passed is None and figures.explanations == 0 and figures.fallback_share == 0.0


def test_the_judge_request_asks_the_panel_in_the_situation() -> None:
    items = {item_id: item_to_pb(item) for item_id, item in BY_ID.items()}
    request = judge_request([served(EPPENDORF.item_id, "x")], items, {"season": "winter"}, user_id="u1")
    assert request.method == judge_pb2.METHOD_RECGPT_V2 and request.situation["season"] == "winter"
    assert request.explanations.explanations[0].item.title == EPPENDORF.title
