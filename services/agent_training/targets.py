"""What each agent should have answered, built from what the user did next (the supervision of SFT).

Tags name catalogue categories (`recgpt_domain.category_tags`: the tag the tag service itself names a
category by, so that it maps back to its category). Interests are
the categories the user keeps returning to. Explanations are one grounded sentence about the item the user
chose next, made of the item's own facts, so the grounding checker passes it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

from recgpt_domain import grounding
from recgpt_domain.catalogue import Item
from recgpt_domain.category_tags import tag_text
from recgpt_domain.grounding import CatalogueVocabulary

TAG_RATIONALE = "likely next need"
# Words of the title an explanation quotes (the sentence must stay within the explainer's word limit).
_TITLE_WORDS = 8


def tags_answer(
    categories: Sequence[str], interests: Sequence[str], parents: Mapping[str, str]
) -> str | None:
    """The JSON answer naming `categories` as tags, each tied to its own interest when the user has it."""
    tags = []
    seen: set[str] = set()
    for category in categories:
        text = tag_text(category, parents)
        if text is None or text.casefold() in seen:
            continue
        seen.add(text.casefold())
        interest = category if category in interests else (interests[0] if interests else category)
        tags.append({"tag": text, "interest": interest, "rationale": TAG_RATIONALE})
    return json.dumps({"tags": tags}, ensure_ascii=False) if tags else None


def numbered_answer(next_categories: Sequence[str], pool: Sequence[str], limit: int) -> str:
    """A choice's answer (choose mode's, an expert's): the next items' categories the pool offers first, then
    the pool's own order (the statistics' list, a strong default the model should keep), at most `limit`,
    each by its number in the pool's list (from 1)."""
    number = {category: index for index, category in enumerate(pool, 1)}
    picks = list(dict.fromkeys([*(c for c in next_categories if c in number), *pool]))[:limit]
    return json.dumps({"tags": [number[category] for category in picks]})


def interests_answer(ranked: Sequence[tuple[str, int]]) -> str | None:
    """The JSON answer naming each (category, count) as an interest, the reason citing the behaviour."""
    entries = []
    for category, count in ranked:
        verb = "is" if count == 1 else "are"
        entries.append(
            {"interest": category, "reason": f"{count} of the recent items {verb} in this category"}
        )
    return json.dumps({"interests": entries}, ensure_ascii=False) if entries else None


def explanation_sentence(
    item: Item, interest: str, vocabulary: CatalogueVocabulary, max_words: int
) -> str | None:
    """A grounded sentence about `item` for `interest`, or None when the checker rejects every variant."""
    title = " ".join(item.title.split()[:_TITLE_WORDS]).rstrip(",;:-")
    variants = [f"This {title} suits your interest in {interest}."]
    if item.brand:
        variants.insert(0, f"This {title} from {item.brand} suits your interest in {interest}.")
    for sentence in variants:
        if not grounding.check(sentence, item, vocabulary, interest=interest, max_words=max_words):
            return sentence
    return None


def explanation_answer(sentence: str) -> str:
    return json.dumps({"explanation": sentence}, ensure_ascii=False)
