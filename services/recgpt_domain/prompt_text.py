"""Text helpers shared by the agents' prompts and their checks of what the LLM answered."""

from __future__ import annotations

import re

from recgpt_domain.catalogue import Item

_SPACES = re.compile(r"\s+")


def clip(text: str, limit: int) -> str:
    """One line, single spaces, at most `limit` characters (an ellipsis marks a cut)."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def normalise(text: str) -> str:
    """Case-folded, single-spaced, without surrounding punctuation: the key for duplicates and titles."""
    return _SPACES.sub(" ", text).strip(" \t\n.,;:!?\"'`-*()[]{}").casefold()


def item_facts(item: Item, title_chars: int, description_chars: int) -> list[str]:
    """The item as a prompt quotes it: the only facts an explanation may use."""
    facts = [f"Title: {clip(item.title, title_chars)}"]
    if item.brand:
        facts.append(f"Brand: {item.brand}")
    if item.category_path:
        facts.append(f"Category: {' > '.join(item.category_path)}")
    if item.description:
        facts.append(f"Description: {clip(item.description, description_chars)}")
    return facts
