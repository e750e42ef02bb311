"""The explanation prompts: RecGPT-V1's one fixed prompt per (interest, item), and RecGPT-V2's meta-prompting
(a style guideline from the user, the item and the situation, then the explanation written to it)."""

from __future__ import annotations

from explain.schema import EXPLANATION_MAX_CHARS
from recgpt_domain.catalogue import Item
from recgpt_domain.prompt_text import clip, item_facts
from recgpt_domain.prompt_versions import EXPLAIN_V1, EXPLAIN_V2
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


# RecGPT-V2 meta-prompting: a guideline of constrained choices first (explain.guideline), then the
# explanation written to it, asked to name the item by its short name.
PROMPT_VERSION_V2 = EXPLAIN_V2
# The sentence's budget fits its schema's string bound even at 2 characters a token (what a looping run of
# capitals takes), so that the grammar closes the string before the tokens run out: a JSON string cut by
# max_tokens was most of the failed calls. The guideline is choices only: a few tokens.
STYLE_MAX_TOKENS = 40
GUIDED_MAX_TOKENS = 12 + EXPLANATION_MAX_CHARS // 2
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
