"""The explanation prompts: RecGPT-V1's one fixed prompt per (interest, item), and RecGPT-V2's meta-prompting
(a style guideline from the user, the item and the situation, then the explanation written to it), with the
guideline's constrained choices and how they read: the contract the explain service shares with the offline
code that rebuilds its calls (evaluation.free_form_set)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

from pydantic import Field, create_model

from explain.schema import EXPLANATION_MAX_CHARS, ExplanationAnswer, StyleAnswer
from recgpt_domain import grounding, judge_panel
from recgpt_domain.catalogue import Item
from recgpt_domain.prompt_text import clip, item_facts, short_name
from recgpt_domain.prompt_versions import EXPLAIN_V1, EXPLAIN_V2
from recgpt_domain.situation import Situation
from recgpt_serving.llm.client import Message

# The agent's name in metrics and LLM logs.
AGENT = "explainer"
PROMPT_VERSION = EXPLAIN_V1
MAX_TOKENS = 80
# What the prompt quotes of an item: enough to ground a sentence, short enough for a 135M model.
_TITLE_CHARS = 120
_DESCRIPTION_CHARS = 240

_SYSTEM = (
    "You are a shopping assistant. Write ONE short sentence telling the shopper why this item fits their "
    "interest. Use only the item facts given. Never mention other brands, other product types, or numbers "
    "that are not in the facts."
)


def messages(interest: str, item: Item, max_words: int) -> list[Message]:
    facts = item_facts(item, _TITLE_CHARS, _DESCRIPTION_CHARS)
    user = (
        f"Shopper interest: {interest}\n"
        "Item facts:\n" + "\n".join(facts) + "\n"
        f'Answer as JSON {{"explanation": "<one sentence, at most {max_words} words>"}}.'
    )
    return [{"role": "system", "content": _SYSTEM}, {"role": "user", "content": user}]


# RecGPT-V2 meta-prompting: a guideline of constrained choices first (below), then the
# explanation written to it, asked to name the item by its short name.
PROMPT_VERSION_V2 = EXPLAIN_V2
# The sentence's budget fits its schema's string bound even at 2 characters a token (what a looping run of
# capitals takes), so that the grammar closes the string before the tokens run out: a JSON string cut by
# max_tokens was most of the failed calls. The guideline is choices only: a few tokens.
STYLE_MAX_TOKENS = 40
GUIDED_MAX_TOKENS = 12 + EXPLANATION_MAX_CHARS // 2
# Sampling (the explain service's defaults, ExplainSettings): the guideline and the free samples of the
# sentence warm, so that one item reads differently for different shoppers and moments; the named last
# sample cool, since it is the last chance before the V1 path (free 0.8 / named 0.3 against 0.5 / 0.5 on two
# probes of 60 asks: diversity 0.62-0.64 against 0.54, the fallback no higher). OpenAI's frequency penalty on
# every call against the loops the 135M model falls into.
STYLE_TEMPERATURE = 0.9
GUIDED_TEMPERATURE = 0.8
NAMED_TEMPERATURE = 0.3
FREQUENCY_PENALTY = 0.4
_STYLE_SYSTEM = (
    "You are the copywriting lead of a shop. Plan ONE short sentence that tells a shopper why an item fits "
    "them: choose its tone, which quality of the item to stress for this shopper and moment, and what part "
    "of the moment to speak to. Do not write the sentence itself."
)
_GUIDED_SYSTEM = _SYSTEM + " Write it the way the style guideline asks, and name the item."


def style_messages(interest: str, item: Item, situation: str, qualities: dict[str, str]) -> list[Message]:
    """The guideline's prompt: what the shopper wants, the item's qualities by kind, the moment (may be
    empty)."""
    user = (
        f"Shopper interest: {interest}\n"
        f"Item: {clip(item.title, _TITLE_CHARS)}\n"
        "Qualities to choose from:\n"
        + "".join(f"- {kind}: {value}\n" for kind, value in qualities.items())
        + (f"Situation: {situation}\n" if situation else "")
        + 'Answer as JSON {"tone": ..., "stress": "<a quality\'s kind>", "hook": ...}.'
    )
    return [{"role": "system", "content": _STYLE_SYSTEM}, {"role": "user", "content": user}]


def asked_words(max_words: int) -> int:
    """The length the sentence is asked for: two thirds of the bound checked, since the 135M model overshoots
    what it is asked (a third of its V2 sentences ran past 30 words when asked for 30)."""
    return max(5, max_words * 2 // 3)


def guided_messages(interest: str, item: Item, guideline: str, name: str, max_words: int) -> list[Message]:
    """The explanation's prompt: V1's facts and answer, written to the guideline, naming the item (`name`,
    its short name; empty when it has none)."""
    facts = item_facts(item, _TITLE_CHARS, _DESCRIPTION_CHARS)
    naming = f" that names the {name}" if name else ""
    user = (
        f"Style guideline: {clip(guideline, 240)}\n"
        f"Shopper interest: {interest}\n"
        "Item facts:\n" + "\n".join(facts) + "\n"
        f"Write one short sentence of at most {asked_words(max_words)} words{naming}.\n"
        'Answer as JSON {"explanation": "<the sentence>"}.'
    )
    return [{"role": "system", "content": _GUIDED_SYSTEM}, {"role": "user", "content": user}]


# The last sample of a sentence opens with the item's short name, forced by its schema's pattern, and ends at
# its first sentence mark: the two things the 135M model's rejected sentences miss most (naming the item;
# stopping). Only the last: a fixed opening makes one item's sentences alike, so the samples before it stay
# free. No `maxLength` beside the pattern (vLLM refuses the pair): the sentence's max_tokens bounds it, and a
# sentence cut there is no JSON. A bound of words inside the pattern (`(?: word){2,N}`, which xgrammar
# compiles where a bounded repetition of characters fails) was measured and not kept: the named sample then
# passed more often, the fallbacks stayed as many (invented numbers took the place of lengths) and one item's
# sentences read more alike (docs/results, the named sentence bounded by words).
_SENTENCE_BODY = r'[^"\\.!?\n]+[.!]'
_PATTERN_SPECIALS = frozenset("\\.^$*+?()[]{}|")


@lru_cache(maxsize=1024)
def named_sentence_schema(name: str) -> type[ExplanationAnswer] | None:
    """`ExplanationAnswer` whose sentence opens with "The <name> "; None when the name cannot sit in a JSON
    string as written (a quote, a backslash, a control character)."""
    if not name or any(c in name for c in '"\\') or not name.isprintable():
        return None
    escaped = "".join(f"\\{c}" if c in _PATTERN_SPECIALS else c for c in name)
    model: type[ExplanationAnswer] = create_model(
        "NamedExplanationAnswer",
        __base__=ExplanationAnswer,
        explanation=(str, Field(pattern=f"^The {escaped} {_SENTENCE_BODY}$")),
    )
    return model


# RecGPT-V2's style guideline as a constrained answer: a tone, which of the item's own qualities to stress
# and the hook of the moment; rendered to the text the explanation's prompt reads. Enums chosen among what
# this item and this situation have (the schema is built per call) leave a 135M model nothing to ramble in
# and nothing to leave empty; the choices still vary with the shopper, the item and the moment, which is
# what makes one item's explanations differ. (A free "angle" phrase beside them was tried: sampled warm,
# the 135M model filled it with made-up words.)
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
