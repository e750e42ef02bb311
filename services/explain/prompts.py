"""The RecGPT-V1 explanation prompt: one fixed prompt per (interest, item), answered as a tiny JSON object."""

from __future__ import annotations

from recgpt_domain.catalogue import Item
from recgpt_domain.prompt_text import item_facts
from recgpt_domain.prompt_versions import EXPLAIN_V1
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
