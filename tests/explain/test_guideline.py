"""The V2 guideline as constrained choices: narrowed to the item's qualities and the moment, rendered with the
item's own words."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from explain.prompts import Plan, named_sentence_schema, render
from recgpt_domain.catalogue import Item
from recgpt_domain.situation import Situation
from tests.explain.catalogue import EPPENDORF

EVENING = Situation(season="winter", time_of_day="evening", persona="home chemist")


def test_the_choices_are_the_items_qualities_and_the_moments_parts() -> None:
    plan = Plan.of(EPPENDORF, "lab pipetting", EVENING)
    assert plan.name == "Eppendorf Research Plus Pipette"
    assert plan.qualities.by_kind == {
        "name": "Eppendorf Research Plus Pipette",
        "brand": "Eppendorf",
        "detail": "100-1000 uL",
        "description": "Single-channel adjustable-volume pipette with a spring-load…",  # clipped
        "use": "Pipettes",
    }
    answer = plan.schema.model_validate({"tone": "warm", "stress": "detail", "hook": "persona"})
    assert render(answer, plan.qualities, EVENING) == (
        "Tone: warm. Stress this detail of it: 100-1000 uL. Speak to a home chemist."
    )
    with pytest.raises(ValidationError):
        plan.schema.model_validate({"tone": "warm", "stress": "price", "hook": "none"})
    timeless = Plan.of(EPPENDORF, "lab pipetting", Situation())
    with pytest.raises(ValidationError):
        timeless.schema.model_validate({"tone": "warm", "stress": "brand", "hook": "season"})


def test_an_item_with_nothing_to_quote_still_has_a_schema() -> None:
    bare = Item(item_id="b", title="Kit")
    plan = Plan.of(bare, "kit", Situation())
    answer = plan.schema.model_validate({"tone": "calm", "stress": "shopper", "hook": "none"})
    assert render(answer, plan.qualities, Situation()) == "Tone: calm. Stress what fits this shopper."


def test_a_resampled_sentence_opens_with_the_name_and_stops_at_its_first_mark() -> None:
    schema = named_sentence_schema("Accu-Gage 1/2 in. (Pack) Cover+")
    assert schema is not None
    assert schema.model_validate({"explanation": "The Accu-Gage 1/2 in. (Pack) Cover+ keeps dust out!"})
    for wrong in (
        "The Accu-Gage 1/2 in. (Pack) Cover+ keeps dust out. It fits.",  # a second sentence
        "The Accu-Gage 1/2 in- (Pack) Cover+ keeps dust out.",  # the name's "." is a literal dot
        "This cover keeps dust out.",
        "The Accu-Gage 1/2 in. (Pack) Cover+ keeps dust out",  # no end mark
    ):
        with pytest.raises(ValidationError):
            schema.model_validate({"explanation": wrong})
    assert named_sentence_schema('The "Pro" cover') is None, "a quote cannot sit in the pattern as written"
    assert named_sentence_schema("") is None
