import json

from agent_training.rewards import ExplanationRewarder, TagConstraints, score_tags
from recgpt_domain.grounding import CatalogueVocabulary
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
    """Choose mode answers the chosen names alone; they are scored as the same tags written out."""
    chosen = json.dumps({"tags": ["Lab Pipettes kit", "Nitrile Gloves box", "Lab Pipettes kit"]})
    mapper = catalogue.ExactMapper()
    scores = score_tags(chosen, ["Lab Pipettes"], mapper, CONSTRAINTS)
    both = tags("Lab Pipettes kit", "Nitrile Gloves box")
    written = score_tags(both, ["Lab Pipettes"], mapper, CONSTRAINTS)
    assert scores.parsed and scores == written and scores.tags == 2


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
