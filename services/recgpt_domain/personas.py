"""RecGPT-V2's planner answer: K complementary personas, each a short text and the catalogue categories it
rests on. Its JSON schema (what vLLM constrains decoding to) and how an answer, untrusted, is cleaned live
here, where the intent service and the evaluation share them.

The schema allows only `choices` as categories (the user's own, what follows them, the shop's trends: a few
dozen names, where an enum of the whole catalogue's 768 would be long to compile and useless to a reader),
each named by its number in the prompt's list; cleaning checks every name against the whole catalogue all
the same.
"""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from recgpt_domain.behaviour_context import BehaviourContext, frequent_categories
from recgpt_domain.tag_choice import named_by_numbers

PERSONA_MAX_CHARS = 160
# What validation drops a persona for: the `problem` label of recgpt_persona_planner_dropped_total.
EMPTY, DUPLICATE, NO_KNOWN_CATEGORY = "empty", "duplicate", "no_known_category"
DROP_PROBLEMS = (EMPTY, DUPLICATE, NO_KNOWN_CATEGORY)


class PersonaAnswer(BaseModel):
    persona: str
    # The numbers (from 1) of the planner's numbered choices: two or three tokens each to decode, where a
    # category's name costs ten or more (`recgpt_domain.tag_choice`).
    categories: list[int]


class PlannerAnswer(BaseModel):
    """The shape every answer validates into; `clean_personas` checks it against the catalogue."""

    personas: list[PersonaAnswer]


def planner_schema(choices: Sequence[str], max_personas: int, max_categories: int) -> type[PlannerAnswer]:
    """`PlannerAnswer` whose JSON schema asks for `max_personas` personas, each resting on 1 to
    `max_categories` of `choices` (distinct, as `planner_choices` makes them), named by their numbers."""
    persona = {
        "type": "object",
        "properties": {
            "persona": {"type": "string", "minLength": 1, "maxLength": PERSONA_MAX_CHARS},
            "categories": {
                "type": "array",
                "items": {"type": "integer", "enum": list(range(1, len(choices) + 1))},
                "minItems": 1,
                "maxItems": max_categories,
            },
        },
        "required": ["persona", "categories"],
        "additionalProperties": False,
    }
    schema = {
        "title": "PlannerAnswer",
        "type": "object",
        "properties": {
            # Exactly K: a small model otherwise stops after the first; duplicates are dropped after.
            "personas": {
                "type": "array",
                "items": persona,
                "minItems": max_personas,
                "maxItems": max_personas,
            }
        },
        "required": ["personas"],
        "additionalProperties": False,
    }

    class Constrained(PlannerAnswer):
        @classmethod
        def model_json_schema(cls, *args: Any, **kwargs: Any) -> dict[str, Any]:
            return copy.deepcopy(schema)

    Constrained.__name__ = f"Planner{max_personas}"
    return Constrained


@dataclass(frozen=True)
class Persona:
    text: str
    categories: list[str]


@dataclass
class CleanedPersonas:
    personas: list[Persona]
    # Problem -> personas of the answer dropped for it.
    dropped: Counter[str] = field(default_factory=Counter)
    # Category names of kept personas that are not in the catalogue (dropped from their persona).
    unknown_categories: int = 0


def clean_personas(
    answer: PlannerAnswer, choices: Sequence[str], known: Collection[str], limit: int
) -> CleanedPersonas:
    """Distinct personas with their known categories (the answer's numbers of `choices`), in the answer's
    order, at most `limit`.

    A persona is a duplicate when its text (case and spacing aside) or its set of categories repeats an
    earlier one's: two experts would then search the same pool.
    """
    cleaned = CleanedPersonas([])
    texts: set[str] = set()
    category_sets: set[frozenset[str]] = set()
    for proposed in answer.personas:
        text = " ".join(proposed.persona.split())[:PERSONA_MAX_CHARS]
        if not text:
            cleaned.dropped[EMPTY] += 1
            continue
        named = list(dict.fromkeys(named_by_numbers(proposed.categories, choices)))
        categories = [c for c in named if c in known]
        cleaned.unknown_categories += len(named) - len(categories)
        if not categories:
            cleaned.dropped[NO_KNOWN_CATEGORY] += 1
            continue
        key = text.casefold()
        if key in texts or frozenset(categories) in category_sets:
            cleaned.dropped[DUPLICATE] += 1
            continue
        if len(cleaned.personas) == limit:
            break
        texts.add(key)
        category_sets.add(frozenset(categories))
        cleaned.personas.append(Persona(text, categories))
    return cleaned


def planner_choices(
    own: Sequence[str], following: Sequence[str], trending: Sequence[str], popular: Sequence[str], size: int
) -> list[str]:
    """The categories the planner may name for a user: their own (most frequent first), what follows their
    last category, the shop's trends, then the most taken; each once, at most `size`."""
    return list(dict.fromkeys(c for c in (*own, *following, *trending, *popular) if c))[:size]


def frequent_category_persona(context: BehaviourContext, max_categories: int) -> Persona | None:
    """A persona without the planner: one sentence over the user's most frequent categories, named as the
    non-LLM interests name them (`frequent_categories`), resting on those categories. Free and deterministic:
    what the experts' training examples stand on. None when the behaviour names no category."""
    frequent = frequent_categories(context, max_categories)
    if not frequent:
        return None
    names = [f.interest for f in frequent]
    listed = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"
    text = f"A shopper for {listed}"
    if len(text) > PERSONA_MAX_CHARS:
        text = text[: PERSONA_MAX_CHARS + 1].rsplit(" ", 1)[0].rstrip(" ,;&-")
    return Persona(text, [f.category for f in frequent])
