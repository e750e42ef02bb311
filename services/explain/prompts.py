"""The explanation prompts: RecGPT-V1's one fixed prompt per (interest, item), and RecGPT-V2's meta-prompting
(a style guideline from the user, the item and the situation, then the explanation written to it)."""

from __future__ import annotations

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


# RecGPT-V2 meta-prompting: the same answer schema for the explanation, a guideline before it.
PROMPT_VERSION_V2 = EXPLAIN_V2
STYLE_MAX_TOKENS = 70
STYLE_MAX_WORDS = 25
_STYLE_SYSTEM = (
    "You are the copywriting lead of a shop. Write a style guideline for ONE short sentence that explains "
    "to a shopper why an item fits them: the tone, which of the item's qualities to stress for this shopper "
    "and moment, and what to avoid. Do not write the sentence itself and add no product facts."
)
_GUIDED_SYSTEM = _SYSTEM + " Write it the way the style guideline asks."


def style_messages(interest: str, item: Item, situation: str) -> list[Message]:
    """The guideline's prompt: what the shopper wants, the item in brief, and the moment (may be empty)."""
    user = (
        f"Shopper interest: {interest}\n"
        f"Item: {clip(item.title, _TITLE_CHARS)}"
        + (f" ({item.category})" if item.category else "")
        + "\n"
        + (f"Situation: {situation}\n" if situation else "")
        + f'Answer as JSON {{"guideline": "<at most {STYLE_MAX_WORDS} words>"}}.'
    )
    return [{"role": "system", "content": _STYLE_SYSTEM}, {"role": "user", "content": user}]


def guided_messages(interest: str, item: Item, guideline: str, max_words: int) -> list[Message]:
    """The explanation's prompt: V1's facts and answer, written to the guideline."""
    facts = item_facts(item, _TITLE_CHARS, _DESCRIPTION_CHARS)
    user = (
        f"Style guideline: {clip(guideline, 240)}\n"
        f"Shopper interest: {interest}\n"
        "Item facts:\n" + "\n".join(facts) + "\n"
        f'Answer as JSON {{"explanation": "<one sentence, at most {max_words} words>"}}.'
    )
    return [{"role": "system", "content": _GUIDED_SYSTEM}, {"role": "user", "content": user}]
