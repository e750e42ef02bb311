import json

import jsonschema  # type: ignore[import-untyped]
import pytest

from agent_training.rewards import (
    ExpertConstraints,
    ExplanationRewarder,
    TagConstraints,
    score_expert,
    score_tags,
)
from recgpt_domain.grounding import CatalogueVocabulary
from recgpt_domain.tag_choice import number_schema
from tests.agent_training import catalogue

CONSTRAINTS = TagConstraints()


def tags(*texts: str) -> str:
    return json.dumps({"tags": [{"tag": t, "interest": "x", "rationale": ""} for t in texts]})


def test_crs_rewards_accuracy_only_when_every_constraint_holds() -> None:
    mapper = catalogue.ExactMapper()
    hit = score_tags(tags("Lab Pipettes kit", "Nitrile Gloves box"), ["Lab Pipettes"], mapper, CONSTRAINTS)
    assert hit.reward("crs", CONSTRAINTS) == 1.0
    unaligned = score_tags(tags("Lab Pipettes kit", "shiny thing"), ["Lab Pipettes"], mapper, CONSTRAINTS)
    assert unaligned.alignment == 0.5 and unaligned.reward("crs", CONSTRAINTS) == 0.0
    repeated = score_tags(tags("Lab Pipettes kit", "Lab Pipettes set"), ["Lab Pipettes"], mapper, CONSTRAINTS)
    assert repeated.diversity == 0.5 and repeated.reward("crs", CONSTRAINTS) == 0.0
    # GRPO-SUM pays for the constraints even without a hit.
    miss = score_tags(tags("Beakers glass", "Screws steel"), ["Lab Pipettes"], mapper, CONSTRAINTS)
    assert miss.reward("crs", CONSTRAINTS) == 0.0 and miss.reward("sum", CONSTRAINTS) == 3.0


def test_unparseable_answers_earn_nothing() -> None:
    scores = score_tags("tags: pipettes", ["Lab Pipettes"], catalogue.ExactMapper(), CONSTRAINTS)
    assert not scores.parsed and scores.reward("sum", CONSTRAINTS) == 0.0
    mixed = json.dumps({"tags": ["Lab Pipettes kit", {"tag": "Beakers glass"}]})
    assert not score_tags(mixed, ["Lab Pipettes"], catalogue.ExactMapper(), CONSTRAINTS).parsed


def test_choose_mode_answers_score_like_written_tags() -> None:
    """Choose mode answers the numbers of its listed names; they are scored as the same tags written out."""
    listed = ["Nitrile Gloves box", "Lab Pipettes kit"]
    chosen = json.dumps({"tags": [2, 1, 2, 9]})
    mapper = catalogue.ExactMapper()
    scores = score_tags(chosen, ["Lab Pipettes"], mapper, CONSTRAINTS, listed)
    both = tags("Lab Pipettes kit", "Nitrile Gloves box")
    written = score_tags(both, ["Lab Pipettes"], mapper, CONSTRAINTS)
    assert scores.parsed and scores == written and scores.tags == 2
    # Without the list its prompt offered, numbers are no answer.
    assert not score_tags(chosen, ["Lab Pipettes"], mapper, CONSTRAINTS).parsed


def test_explanations_grounding_gated_by_diversity_over_recent_ones() -> None:
    items = catalogue.items()
    item = items[0]
    rewarder = ExplanationRewarder(CatalogueVocabulary.from_items(items), max_words=30, buffer_size=8)
    text = json.dumps({"explanation": f"This {item.title} suits your interest in pipettes."})
    first = rewarder.score(text, item, "pipettes")
    assert first.grounded == 1.0 and first.reward("crs", 0.5) == 1.0
    again = rewarder.score(text, item, "pipettes")
    assert again.diversity == 0.0 and again.reward("crs", 0.5) == 0.0
    invented = rewarder.score(json.dumps({"explanation": "It holds 999 litres."}), item, "pipettes")
    assert invented.grounded == 0.0


def test_explanations_are_rewarded_by_the_judges_proxy_verdict() -> None:
    items = catalogue.items()
    item = items[0]
    rewarder = ExplanationRewarder(CatalogueVocabulary.from_items(items), max_words=30)
    assert rewarder.recent.maxlen == 160, "RecGPT-V2's buffer of recent explanations"
    specific = rewarder.score(json.dumps({"explanation": f"This {item.title} suits you."}), item, "pipettes")
    vague = rewarder.score(json.dumps({"explanation": "Great for your pipettes."}), item, "pipettes")
    assert specific.judged == 1.0 and specific.defects == ()
    assert vague.grounded == 1.0, "grounded, yet it names nothing of the item"
    assert set(vague.defects) == {"relevance", "informativeness"}
    assert 0.0 < vague.judged < 0.5 and vague.reward("crs", 0.0) == vague.judged
    assert vague.reward("sum", 0.0) == vague.judged + vague.diversity
    again = rewarder.score(json.dumps({"explanation": f"This {item.title} suits you."}), item, "pipettes")
    assert again.reward("crs", 0.5) == 0.0 and again.reward("sum", 0.5) == 1.0, "SUM still pays the repeat"


# An expert's pool: the names its prompt offered, numbered from 1 in this order -> their categories.
POOL = {"lab pipettes": "Lab Pipettes", "glass beakers": "Beakers", "nitrile gloves": "Nitrile Gloves"}
EXPERT = ExpertConstraints(max_picks=2)


def number(name: str) -> int:
    """A pool name's number in the expert's list; any other name a number past its end."""
    listed = list(POOL)
    return listed.index(name) + 1 if name in listed else len(listed) + 7


def picks(*names: str) -> str:
    return json.dumps({"tags": [number(name) for name in names]})


def test_crs_pays_an_experts_hit_only_when_the_answer_is_valid() -> None:
    hit = score_expert(picks("glass beakers", "lab pipettes"), POOL, ["Lab Pipettes", "Screws"], EXPERT)
    # Screws is not in the pool: the hit counts the one target the pool offers.
    assert hit.valid and hit.hit == 1.0 and hit.categories == ("Beakers", "Lab Pipettes")
    assert hit.reward("crs") == 1.0 and hit.reward("sum") == 4.0
    miss = score_expert(picks("nitrile gloves"), POOL, ["Lab Pipettes"], EXPERT)
    assert miss.valid and miss.reward("crs") == 0.0 and miss.reward("sum") == 3.0, "SUM pays validity alone"
    half = score_expert(picks("lab pipettes"), POOL, ["Lab Pipettes", "Beakers"], EXPERT)
    assert half.hit == 0.5 and half.reward("crs") == 0.5


def test_a_pick_outside_the_pool_gates_the_hit_though_the_service_would_serve_the_rest() -> None:
    scores = score_expert(picks("lab pipettes", "pipette robot"), POOL, ["Lab Pipettes"], EXPERT)
    assert scores.parsed and scores.in_pool == 0.5 and not scores.valid
    assert scores.hit == 1.0 and scores.categories == ("Lab Pipettes",) and not scores.fallback
    assert scores.reward("crs") == 0.0 and scores.reward("sum") == 1.0 + 0.5 + 1.0 + 1.0
    outside = score_expert(picks("pipette robot"), POOL, ["Lab Pipettes"], EXPERT)
    assert outside.fallback and outside.hit == 0.0


def test_a_duplicate_pick_gates_the_hit() -> None:
    scores = score_expert(picks("lab pipettes", "lab pipettes"), POOL, ["Lab Pipettes"], EXPERT)
    assert scores.distinct == 0.5 and scores.in_pool == 1.0 and not scores.valid
    assert scores.hit == 1.0 and scores.reward("crs") == 0.0 and scores.reward("sum") == 3.5


def test_too_many_or_no_picks_gate_the_hit() -> None:
    """Length counts picks (at most the picks asked): picking the whole pool buys no reward under CRS."""
    every = score_expert(picks(*POOL), POOL, ["Nitrile Gloves"], EXPERT)
    assert every.length == 0.0 and every.in_pool == 1.0 and every.distinct == 1.0
    assert every.hit == 0.0, "the service serves the first two picks only"
    assert every.reward("crs") == 0.0 and every.reward("sum") == 2.0
    wider = ExpertConstraints(max_picks=3)
    assert score_expert(picks(*POOL), POOL, ["Nitrile Gloves"], wider).reward("crs") == 1.0
    empty = score_expert(picks(), POOL, ["Lab Pipettes"], EXPERT)
    assert empty.parsed and empty.fallback and empty.reward("sum") == 0.0 and empty.reachable


@pytest.mark.parametrize(
    "text",
    [
        "lab pipettes",
        "{'tags': [1]}",
        json.dumps({"tags": "lab pipettes"}),
        json.dumps({"tags": [{"tag": 1}]}),
        json.dumps({"tags": ["lab pipettes"]}),
        json.dumps({"tags": ["1"]}),
        json.dumps({"tags": [1.0]}),
        json.dumps({"tags": [1], "why": "..."}),
        json.dumps([1]),
    ],
)
def test_an_answer_the_schema_refuses_earns_nothing(text: str) -> None:
    scores = score_expert(text, POOL, ["Lab Pipettes"], EXPERT)
    assert not scores.parsed and scores.fallback and not scores.valid
    assert scores.reachable, "the pool offers a target whatever the answer"
    assert scores.reward("crs") == 0.0 and scores.reward("sum") == 0.0


@pytest.mark.parametrize(
    "answer",
    [
        ["lab pipettes"],
        ["lab pipettes", "glass beakers"],
        ["lab pipettes", "bogus"],
        ["lab pipettes", "glass beakers", "nitrile gloves"],
        [],
        ["lab pipettes", "lab pipettes"],
    ],
)
def test_a_valid_answer_is_one_the_served_schema_accepts_with_no_pick_twice(answer: list[str]) -> None:
    """The gates are the tag service's own schema (`tag_choice.number_schema`: numbers of the pool, 1 to
    the picks asked, no other key), which vLLM enforces in serving, and no repeat."""
    schema = number_schema(len(POOL), EXPERT.max_picks).model_json_schema()
    served = jsonschema.Draft202012Validator(schema).is_valid({"tags": [number(name) for name in answer]})
    scores = score_expert(picks(*answer), POOL, ["Lab Pipettes"], EXPERT)
    assert scores.valid == (served and len(set(answer)) == len(answer))
