"""The tag that names each catalogue category: how the tag agent's answers point at categories exactly.

A category's tag is its leaf name, prefixed with its parent's first word when the leaf alone is one word, so
that it is a "modifier + core word" tag the validator accepts. The SFT targets write categories this way, and
the ranking mode scores these tags, so an adapter is served the names it was trained on.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from recgpt_domain.catalogue import Item
from tags.schema import TAG_MAX_CHARS
from tags.validation import shape_problem


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


def _clip_words(text: str, limit: int) -> str:
    words = text.split()
    out: list[str] = []
    for word in words:
        if len(" ".join([*out, word])) > limit:
            break
        out.append(word)
    return " ".join(out)


def tag_text(category: str, parents: Mapping[str, str]) -> str | None:
    """The tag that names `category`, or None when no tag the validator accepts can name it."""
    leaf = " ".join(category.split())
    if not leaf:
        return None
    text = _clip_words(leaf, TAG_MAX_CHARS)
    if shape_problem(text) is not None:
        parent_word = (parents.get(category, "").replace("&", " ").split() or [""])[0]
        text = _clip_words(f"{parent_word} {leaf}", TAG_MAX_CHARS)
    return text if text and shape_problem(text) is None else None


def category_tags(items: Iterable[Item]) -> dict[str, str]:
    """Every category some tag can name, with that tag."""
    listed = list(items)
    parents = category_parents(listed)
    return {category: tag for category in parents if (tag := tag_text(category, parents)) is not None}
