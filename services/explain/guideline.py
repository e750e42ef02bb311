"""RecGPT-V2's style guideline as a constrained answer: a tone, which of the item's own qualities to stress
and the hook of the moment; rendered to the text the explanation's prompt reads.

Enums chosen among what this item and this situation have (the schema is built per call) leave a 135M model
nothing to ramble in and nothing to leave empty; the choices still vary with the shopper, the item and the
moment, which is what makes one item's explanations differ. (A free "angle" phrase beside them was tried:
sampled warm, the 135M model filled it with made-up words.)
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

from pydantic import create_model

from explain.schema import StyleAnswer
from recgpt_domain import grounding, judge_panel
from recgpt_domain.catalogue import Item
from recgpt_domain.prompt_text import clip, short_name
from recgpt_domain.situation import Situation

NO_HOOK = "none"
_SHOPPER = "shopper"
_DETAIL_CHARS = 60


@dataclass(frozen=True)
class Qualities:
    """The item's own qualities a guideline may stress, by kind, each with the words that show it."""

    by_kind: dict[str, str]

    @classmethod
    def of(cls, item: Item, name: str) -> Qualities:
        """name (the short name), brand, detail (the title past its name), description, use (its category)."""
        kinds: dict[str, str] = {}
        if name:
            kinds["name"] = name
        brand = " ".join(item.brand.split())
        if brand and grounding.words(brand) and brand.casefold() not in {"generic", "unknown"}:
            kinds["brand"] = brand
        title = " ".join(item.title.split())
        rest = title[len(name) :] if name and title.startswith(name) else ""
        if grounding.words(rest.strip(" ,;:-")):
            kinds["detail"] = clip(rest.strip(" ,;:-"), _DETAIL_CHARS)
        if description := clip(item.description, _DETAIL_CHARS):
            kinds["description"] = description
        if item.category:
            kinds["use"] = item.category
        return cls(kinds)

    @property
    def kinds(self) -> tuple[str, ...]:
        """The choices of the guideline's `stress`; an item with no quality to quote leaves the sentence's
        emphasis to the shopper."""
        return tuple(self.by_kind) or (_SHOPPER,)

    def stress(self, kind: str) -> str:
        """What the guideline asks to stress, in words the explanation's prompt can quote."""
        value = self.by_kind.get(kind, "")
        return {
            "name": f'the item itself, "{value}"',
            "brand": f"its brand, {value}",
            "detail": f"this detail of it: {value}",
            "description": f"what its description says: {value}",
            "use": f"what it is for ({value})",
        }.get(kind, "what fits this shopper")


def hooks(situation: Situation) -> tuple[str, ...]:
    """The parts of the moment a sentence may speak to; "none" always."""
    known = (
        ("season", situation.season),
        ("time of day", situation.time_of_day),
        ("persona", situation.persona),
    )
    return (*(hook for hook, value in known if value), NO_HOOK)


@lru_cache(maxsize=64)
def style_schema(kinds: tuple[str, ...], hook_names: tuple[str, ...]) -> type[StyleAnswer]:
    """`StyleAnswer` with its stress and hook narrowed to these choices (what vLLM constrains decoding to)."""
    model: type[StyleAnswer] = create_model(
        "StyleAnswer",
        __base__=StyleAnswer,
        stress=(_one_of(kinds), ...),
        hook=(_one_of(hook_names), ...),
    )
    return model


def _one_of(values: tuple[str, ...]) -> Any:
    """A Literal of values known only at run time (pydantic writes it as the schema's enum)."""
    return Literal.__getitem__(values)


def render(answer: StyleAnswer, qualities: Qualities, situation: Situation) -> str:
    """The guideline as the explanation's prompt reads it (and the Outcome and the cache keep it)."""
    parts = [f"Tone: {answer.tone}.", f"Stress {qualities.stress(answer.stress)}."]
    hook = {
        "season": f"Tie it to {situation.season}.",
        "time of day": f"Tie it to the {situation.time_of_day}.",
        "persona": f"Speak to a {situation.persona}.",
    }.get(answer.hook, "")
    if hook:
        parts.append(hook)
    return " ".join(parts)


@dataclass(frozen=True)
class Plan:
    """What a meta-prompted explanation of one item in one moment is asked in: the item's short name (which
    the sentence is asked to name), its qualities, and the guideline's schema narrowed to them."""

    name: str
    qualities: Qualities
    schema: type[StyleAnswer]

    @classmethod
    def of(cls, item: Item, interest: str, situation: Situation) -> Plan:
        name = short_name(item, judge_panel.naming_words(item, interest))
        qualities = Qualities.of(item, name)
        return cls(name, qualities, style_schema(qualities.kinds, hooks(situation)))
