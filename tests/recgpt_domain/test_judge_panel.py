"""Agent-as-a-judge's rules and verdict rule, without the LLM."""

from __future__ import annotations

from datetime import datetime

import pytest

from recgpt_domain import judge_panel
from recgpt_domain.catalogue import Item
from recgpt_domain.grounding import CatalogueVocabulary
from recgpt_domain.judge_panel import Contradiction, Finding
from recgpt_domain.prompt_text import short_name
from recgpt_domain.situation import Situation
from tests.explain.catalogue import EPPENDORF, GORILLA, ITEMS

VOCABULARY = CatalogueVocabulary.from_items(ITEMS)


def defects(text: str, **extra: object) -> dict[str, str]:
    return judge_panel.explanation_defects(text, EPPENDORF, VOCABULARY, interest="lab pipetting", **extra)  # type: ignore[arg-type]


def test_a_grounded_specific_sentence_has_no_rule_defect() -> None:
    assert defects("The Eppendorf Research Plus adjusts from 100 to 1000 uL for your lab pipetting.") == {}


def test_another_items_sentence_is_irrelevant_and_invents_a_brand() -> None:
    found = defects("Gorilla Glue bonds wood and stone for lab pipetting.")
    assert set(found) == {"relevance", "informativeness", "factuality"}
    assert "foreign_brand" in found["factuality"]


def test_naming_only_the_category_is_relevant_but_not_informative() -> None:
    found = defects("A pipette that suits your lab pipetting.")
    assert set(found) == {"informativeness"}


def test_form_safety_and_timeliness_each_have_a_rule() -> None:
    assert set(defects("The Eppendorf pipette. It is great.")) == {"clarity"}
    assert set(defects("The Eppendorf pipette is a miracle cure for lab pipetting.")) == {"safety"}
    winter = Situation.from_map({"season": "winter", "time_of_day": "morning"})
    found = defects("The Eppendorf pipette for your summer lab pipetting.", situation=winter)
    assert found == {"timeliness": "names summer in winter"}
    assert defects("The Eppendorf pipette for your winter lab pipetting.", situation=winter) == {}
    assert set(defects("")) == {"clarity"}


def test_a_sentence_saying_a_run_of_words_twice_is_not_attractive() -> None:
    found = defects("Name the Eppendorf Research Plus Pipette: Eppendorf Research Plus Pipette.")
    assert found == {"attractiveness": "repeats itself: 'eppendorf research plu'"}
    # The interest's words may come back (the item named, then the interest), and so may generic ones.
    interest = "precise lab pipetting"
    text = "For precise lab pipetting, the Eppendorf Research Plus suits precise lab pipetting."
    assert judge_panel.explanation_defects(text, EPPENDORF, VOCABULARY, interest=interest) == {}
    assert "attractiveness" in judge_panel.explanation_defects(text, EPPENDORF, VOCABULARY, interest="labs")
    assert defects("The Eppendorf Research Plus, for the lab, adjusts from 100 to 1000 uL for the lab.") == {}


def test_tag_rules_check_shape_and_the_behaviour() -> None:
    behaviour = "purchase: Gorilla Original Gorilla Glue, Waterproof Polyurethane Glue"
    assert judge_panel.tag_defects("waterproof glue", behaviour) == {}
    assert set(judge_panel.tag_defects("lab pipettes", behaviour)) == {"relevance"}
    assert set(judge_panel.tag_defects("glue", behaviour)) == {"validity"}
    assert set(judge_panel.tag_defects("new products", behaviour)) == {"specificity"}


def test_any_defect_is_bad_and_needs_no_reviewer() -> None:
    findings = [Finding("relevance", True), Finding("clarity", False, "too long", by_rule=True)]
    assert judge_panel.settled(findings)
    assert judge_panel.verdict(findings, None) == "bad"
    assert judge_panel.verdict(findings, "superior") == "bad", "the rule wins over the reviewer"


def test_the_reviewer_decides_only_between_superior_and_average() -> None:
    findings = [Finding(d, True) for d in judge_panel.EXPLANATION_DIMENSIONS]
    assert judge_panel.verdict(findings, "superior") == "superior"
    assert judge_panel.verdict(findings, "average") == "average"
    for reviewed, failing in (("bad", ()), ("average", ("clarity",)), (None, ())):
        with pytest.raises(Contradiction):
            judge_panel.verdict(findings, reviewed, failing)  # type: ignore[arg-type]


def test_scores_order_verdicts_first_then_passed_dimensions() -> None:
    passed = [Finding(d, True) for d in judge_panel.EXPLANATION_DIMENSIONS]
    one_bad = [Finding("relevance", False), *passed[1:]]
    two_bad = [Finding("relevance", False), Finding("factuality", False), *passed[2:]]
    assert (
        judge_panel.score("average", passed)
        > judge_panel.score("bad", one_bad)
        > judge_panel.score("bad", two_bad)
    )
    assert judge_panel.score("superior", passed) > judge_panel.score("average", passed)


def test_situations_are_normalised_and_keyed() -> None:
    situation = Situation.from_map(
        {"season": "Fall", "time_of_day": "tonight", "persona": " home  chemist ", "x": "y"}
    )
    assert (situation.season, situation.time_of_day, situation.persona) == ("autumn", "night", "home chemist")
    assert Situation.from_map({"season": "monsoon"}).season == ""
    assert (
        situation.kind
        == Situation.from_map({"season": "autumn", "time_of_day": "night", "persona": "Home Chemist"}).kind
    )
    assert Situation().kind == "-.-.-" and Situation().describe() == ""
    assert Situation.at(datetime(2026, 12, 6, 20, 0)) == Situation("winter", "evening")
    assert Situation.at(datetime(2026, 7, 1, 3, 0)).time_of_day == "night"
    assert "season: autumn" in situation.describe()


def test_gorilla_needs_no_invented_facts_rule_to_be_relevant() -> None:
    found = judge_panel.explanation_defects(
        "Gorilla's waterproof polyurethane formula fits your wood repairs.",
        GORILLA,
        VOCABULARY,
        interest="wood repairs",
    )
    assert found == {}


@pytest.mark.parametrize("item", ITEMS, ids=lambda item: item.item_id)
def test_a_sentence_naming_the_short_name_passes_the_naming_rules(item: Item) -> None:
    """What meta-prompting asks the sentence to name (prompt_text.short_name over naming_words) is enough
    for relevance and informativeness, whatever the interest takes away."""
    for interest in ("lab pipetting", item.category, item.brand or "gifts"):
        name = short_name(item, judge_panel.naming_words(item, interest))
        assert name, item.title
        found = judge_panel.explanation_defects(f"The {name} suits you.", item, VOCABULARY, interest=interest)
        assert not {"relevance", "informativeness"} & set(found), (name, interest)


def test_the_short_name_is_the_titles_head_without_codes_else_the_brand() -> None:
    assert short_name(EPPENDORF, judge_panel.naming_words(EPPENDORF)) == "Eppendorf Research Plus Pipette"
    coded = Item(item_id="c", title="Merrick Machine MERM998002 Red Auto Dolly, Set of 4", brand="Merrick")
    assert short_name(coded, judge_panel.naming_words(coded)) == "Merrick Machine Red Auto Dolly"
    generic = Item(item_id="g", title="Great Quality Tool Kit", brand="Acme", category_path=["Tool Kits"])
    assert short_name(generic, judge_panel.naming_words(generic)) == "Acme Great Quality Tool Kit"
    article = Item(item_id="a", title="The Hillman Group 370329 Ribbed Anchor, 100-Pack", brand="Hillman")
    assert short_name(article, judge_panel.naming_words(article)) == "Hillman Group 370329 Ribbed Anchor"
    nothing = Item(item_id="n", title="Tool Kit", category_path=["Tool Kits"])
    assert short_name(nothing, judge_panel.naming_words(nothing)) == ""
