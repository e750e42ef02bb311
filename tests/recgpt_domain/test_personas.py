"""The planner's answer: its schema constrains categories to the choices, cleaning keeps distinct personas
resting on known categories."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from recgpt_domain.behaviour_context import compress
from recgpt_domain.catalogue import Interaction, Item
from recgpt_domain.personas import (
    DUPLICATE,
    EMPTY,
    NO_KNOWN_CATEGORY,
    PERSONA_MAX_CHARS,
    Persona,
    PersonaAnswer,
    PlannerAnswer,
    clean_personas,
    frequent_category_persona,
    planner_choices,
    planner_schema,
)
from recgpt_serving.llm.client import response_format

KNOWN = {"Pipettes", "Beakers", "Gloves", "Glues"}


# The planner's numbered choices: the known categories and one the catalogue lacks.
CHOICES = ["Pipettes", "Beakers", "Gloves", "Glues", "Unicorns", "Nope"]


def answer(*personas: tuple[str, list[str]]) -> PlannerAnswer:
    """An answer naming each category by its number in CHOICES."""
    return PlannerAnswer(
        personas=[
            PersonaAnswer(persona=text, categories=[CHOICES.index(c) + 1 for c in cats])
            for text, cats in personas
        ]
    )


def test_the_schema_asks_for_k_personas_over_the_choices_only() -> None:
    schema = planner_schema(["Pipettes", "Beakers", "Gloves"], 3, 2)
    sent = response_format(schema)["json_schema"]["schema"]
    personas = sent["properties"]["personas"]
    assert (personas["minItems"], personas["maxItems"]) == (3, 3)
    categories = personas["items"]["properties"]["categories"]
    assert categories["items"] == {"type": "integer", "enum": [1, 2, 3]}
    assert (categories["minItems"], categories["maxItems"]) == (1, 2)
    assert sent["additionalProperties"] is False and personas["items"]["additionalProperties"] is False
    # Untrusted text parses into the plain shape; cleaning decides what is kept.
    parsed = schema.model_validate_json('{"personas": [{"persona": "a", "categories": [42]}]}')
    assert parsed.personas[0].categories == [42]
    named = '{"personas": [{"persona": "a", "categories": ["Nope"]}]}'
    for bad in ('{"personas": [{"persona": "a"}]}', named):
        with pytest.raises(ValidationError):
            schema.model_validate_json(bad)


def test_cleaning_drops_duplicates_unknown_categories_and_empty_personas() -> None:
    cleaned = clean_personas(
        answer(
            ("A careful lab buyer", ["Pipettes", "Unicorns"]),
            ("a  careful LAB buyer", ["Beakers"]),  # the same text
            ("Someone else", ["Pipettes"]),  # the same categories as the first (once unknown ones are gone)
            ("   ", ["Gloves"]),
            ("Dreamer", ["Unicorns"]),  # nothing known left
            ("Hobbyist who repairs things", ["Glues", "Gloves", "Glues"]),
        ),
        CHOICES,
        KNOWN,
        limit=3,
    )
    assert [(p.text, p.categories) for p in cleaned.personas] == [
        ("A careful lab buyer", ["Pipettes"]),
        ("Hobbyist who repairs things", ["Glues", "Gloves"]),
    ]
    assert cleaned.dropped == {DUPLICATE: 2, EMPTY: 1, NO_KNOWN_CATEGORY: 1}
    assert cleaned.unknown_categories == 2


def test_cleaning_keeps_at_most_the_limit_and_nothing_from_an_unusable_answer() -> None:
    many = answer(("one", ["Pipettes"]), ("two", ["Beakers"]), ("three", ["Gloves"]))
    assert [p.text for p in clean_personas(many, CHOICES, KNOWN, 2).personas] == ["one", "two"]
    assert clean_personas(answer(("x", ["Nope"])), CHOICES, KNOWN, 3).personas == []
    assert clean_personas(PlannerAnswer(personas=[]), CHOICES, KNOWN, 3).personas == []
    # A number past the list names nothing: dropped from its persona and counted, as an unknown name is.
    past = PlannerAnswer(personas=[PersonaAnswer(persona="y", categories=[len(CHOICES) + 1, 1])])
    cleaned = clean_personas(past, CHOICES, KNOWN, 3)
    assert [(p.text, p.categories) for p in cleaned.personas] == [("y", ["Pipettes"])]
    assert cleaned.unknown_categories == 1


def test_the_choices_are_the_users_own_then_what_follows_then_trends_then_popular() -> None:
    chosen = planner_choices(["A", "B"], ["B", "C"], ["D", ""], ["A", "E", "F"], 5)
    assert chosen == ["A", "B", "C", "D", "E"]


def test_a_persona_without_the_planner_rests_on_the_most_frequent_categories() -> None:
    long_name = "Lab " + "very " * 40 + "long category"
    items = {
        "p1": Item(item_id="p1", title="Pipette", category_path=["Lab", "Pipettes"]),
        "b1": Item(item_id="b1", title="Beaker", category_path=["Lab", "Beakers"]),
        "g1": Item(item_id="g1", title="Gloves", category_path=["Safety", "Gloves"]),
        "x1": Item(item_id="x1", title="Mystery"),
        "l1": Item(item_id="l1", title="Long", category_path=["Lab", long_name]),
    }
    log = [
        Interaction(item_id=i, timestamp=n) for n, i in enumerate(["g1", "p1", "x1", "p1", "b1", "b1", "b1"])
    ]
    persona = frequent_category_persona(compress(log, items), 2)
    assert persona == Persona("A shopper for Beakers and Pipettes", ["Beakers", "Pipettes"])
    assert frequent_category_persona(compress(log, items), 5) == Persona(
        "A shopper for Beakers, Pipettes and Gloves", ["Beakers", "Pipettes", "Gloves"]
    ), "items without a category say nothing"
    alone = frequent_category_persona(compress([Interaction(item_id="l1", timestamp=0)], items), 3)
    assert alone is not None and alone.categories == [long_name]
    assert len(alone.text) <= PERSONA_MAX_CHARS and alone.text.endswith("very"), "cut at a word"
    assert frequent_category_persona(compress([Interaction(item_id="x1", timestamp=0)], items), 3) is None
