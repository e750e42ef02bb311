"""The tag that names each catalogue category: how the tag agent's answers point at categories exactly.

A category's tag is its leaf name (its last words within the tag's length where longer: leaves run from the
general to the specific, so the end tells them apart), prefixed with its parent's first word when the leaf
alone is one word, so that it is a "modifier + core word" tag the validator accepts; no two of the demo
catalogue's 767 categories share one. The SFT targets write categories this way, and the ranking mode scores
these tags, so an adapter is served the names it was trained on.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from recgpt_domain.catalogue import Item
from recgpt_domain.prompt_text import normalise

# What a tag's text may be: the tag agent's answers and the tags naming categories alike.
TAG_MAX_CHARS = 40
MIN_WORDS = 2
MAX_WORDS = 8

# Schema field names, "nothing" answers, and the prompt's own examples copied back.
PLACEHOLDERS = frozenset(
    {
        "tag",
        "tags",
        "none",
        "n/a",
        "null",
        "unknown",
        "example tag",
        "modifier core word",
        "modifier + core word",
        "core word",
        "item tag",
        "product tag",
        "no tag",
        "no tags",
    }
)
ECHOES = frozenset({"digital pipette", "nitrile gloves"})

_LETTER = re.compile(r"[^\W\d_]")


def shape_problem(text: str) -> str | None:
    """Why `text` is not a "modifier + core word" tag, or None when it is one."""
    if not text:
        return "empty"
    if len(text) > TAG_MAX_CHARS:
        return "too_long"
    words = text.split(" ")
    if not sum(1 for word in words if _LETTER.search(word)) >= MIN_WORDS or len(words) > MAX_WORDS:
        return "not_modifier_core"
    key = normalise(text)
    if key in PLACEHOLDERS:
        return "placeholder"
    if key in ECHOES:
        return "echo"
    return None


def category_parents(items: Iterable[Item]) -> dict[str, str]:
    """Each leaf category's most frequent parent (the level above it), "" when there is none."""
    counts: dict[str, dict[str, int]] = {}
    for item in items:
        if not item.category.strip():
            continue
        parent = item.category_path[-2].strip() if len(item.category_path) >= 2 else ""
        by_parent = counts.setdefault(item.category, {})
        by_parent[parent] = by_parent.get(parent, 0) + 1
    return {leaf: max(by, key=lambda name: (by[name], name)) for leaf, by in counts.items()}


def _last_words(text: str, limit: int) -> str:
    """The last words of `text` within `limit` characters, not starting with a word without letters ("&"):
    a catalogue's leaf names run from the general to the specific, so its end tells leaves apart."""
    out: list[str] = []
    for word in reversed(text.split()):
        if len(" ".join([word, *out])) > limit:
            break
        out.insert(0, word)
    while out and not _LETTER.search(out[0]):
        out.pop(0)
    return " ".join(out)


def tag_text(category: str, parents: Mapping[str, str]) -> str | None:
    """The tag that names `category`, or None when no tag the validator accepts can name it."""
    leaf = " ".join(category.split())
    if not leaf:
        return None
    text = _last_words(leaf, TAG_MAX_CHARS)
    if shape_problem(text) is not None:
        parent_word = (parents.get(category, "").replace("&", " ").split() or [""])[0]
        text = _last_words(f"{parent_word} {text}", TAG_MAX_CHARS)
    return text if text and shape_problem(text) is None else None


def category_tags(items: Iterable[Item]) -> dict[str, str]:
    """Every category some tag can name, with that tag."""
    listed = list(items)
    parents = category_parents(listed)
    return {category: tag for category in parents if (tag := tag_text(category, parents)) is not None}
