"""The grounded template that answers when the LLM's explanation is unusable: only the item's own words."""

from __future__ import annotations

from recgpt_domain.catalogue import Item
from recgpt_domain.grounding import words

_INTEREST_WORDS = 8
_INTEREST_CHARS = 60


def _clip_words(text: str, max_words: int, max_chars: int) -> str:
    kept: list[str] = []
    for word in text.split():
        if len(kept) >= max_words or len(" ".join([*kept, word])) > max_chars:
            break
        kept.append(word)
    return " ".join(kept).rstrip(" ,;:-(\u2013")


def _first_clause(title: str) -> str:
    """A title up to its first sentence break, so the template stays one sentence."""
    for mark in (". ", "! ", "? ", "; "):
        head, found, _ = title.partition(mark)
        if found and len(head.split()) >= 2:
            title = head
    return title


def explanation(interest: str, item: Item, max_words: int, max_chars: int) -> str:
    """'Matches your interest in {interest}: {title}, by {brand}.', cut to the length bounds."""
    title = _first_clause(" ".join(item.title.split())) or item.item_id
    brand = item.brand.strip()
    tail = f", by {brand}." if brand and not set(words(brand)) <= set(words(title)) else "."
    fixed = f"Matches your interest in : {tail}"
    if len(fixed.split()) + 2 > max_words or len(fixed) + 16 > max_chars:
        tail = "."  # no room for the brand: the title has to carry the sentence
        fixed = f"Matches your interest in : {tail}"
    # The interest gets at most half of what is left, the title the rest.
    words_left = max_words - len(fixed.split())
    chars_left = max_chars - len(fixed)
    interest = _clip_words(
        interest, min(_INTEREST_WORDS, max(1, words_left // 2)), min(_INTEREST_CHARS, chars_left // 2)
    )
    interest = interest or "this"
    clipped = _clip_words(title, max(1, words_left - len(interest.split())), chars_left - len(interest))
    clipped = clipped or title[: max(1, chars_left - len(interest))]
    return f"Matches your interest in {interest}: {clipped.rstrip('.')}{tail}"
