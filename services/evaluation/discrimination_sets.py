"""Discrimination sets for the judge, built from the catalogue and the behaviour log: pairs of a true and a
false artefact, where a judge worth its name rates the true one higher.

- `explanation_item`: a sentence written for this item against one written for another item (of another
  category), both judged against this item's facts.
- `tags_user`: a user's own tag (their most frequent category's, as `recgpt_domain.category_tags` names it:
  the shape the tag agent serves) against another user's (a category this user never touched), both judged
  against this user's behaviour.
- `grounding`: a grounded sentence against the same sentence with one fact made up (another brand).
The sentences come from one fixed template, so that only the fact that matters differs between the two.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from recgpt_domain.behaviour_context import compress
from recgpt_domain.catalogue import Item, UserHistory
from recgpt_domain.category_tags import category_tags
from recgpt_domain.prompt_text import clip

SETS = ("explanation_item", "tags_user", "grounding")
_TITLE_CHARS = 80
BEHAVIOUR_BUDGET_TOKENS = 600


@dataclass(frozen=True)
class Pair:
    set_name: str
    kind: Literal["explanation", "tag"]
    true_text: str
    false_text: str
    # Explanations are judged against an item for an interest; tags against a user's behaviour.
    item: Item | None = None
    interest: str = ""
    behaviour: str = ""
    # Tag pairs: whose behaviour it is (what a judge's training data must keep apart from the measurement).
    user_id: str = ""


def sentence(item: Item, interest: str, brand: str | None = None) -> str:
    """The one template of both sides of a pair: title, brand (the item's unless given) and interest."""
    named = item.brand if brand is None else brand
    by = f" by {named}" if named else ""
    return f"The {clip(item.title, _TITLE_CHARS)}{by} suits your interest in {interest}."


def explanation_pairs(items: Sequence[Item], count: int, rng: random.Random) -> list[Pair]:
    usable = [item for item in items if item.title and item.category]
    pairs: list[Pair] = []
    for item in rng.sample(usable, min(count, len(usable))):
        others = [
            other for other in rng.sample(usable, min(50, len(usable))) if other.category != item.category
        ]
        if not others:
            continue
        interest = item.category
        pairs.append(
            Pair(
                "explanation_item",
                "explanation",
                sentence(item, interest),
                sentence(others[0], interest),
                item=item,
                interest=interest,
            )
        )
    return pairs


def grounding_pairs(items: Sequence[Item], count: int, rng: random.Random) -> list[Pair]:
    branded = [item for item in items if item.title and item.brand and item.category]
    brands = sorted({item.brand for item in branded})
    pairs: list[Pair] = []
    for item in rng.sample(branded, min(count, len(branded))):
        made_up = [brand for brand in rng.sample(brands, min(20, len(brands))) if not _mentions(item, brand)]
        if not made_up:
            continue
        interest = item.category
        pairs.append(
            Pair(
                "grounding",
                "explanation",
                sentence(item, interest),
                sentence(item, interest, brand=made_up[0]),
                item=item,
                interest=interest,
            )
        )
    return pairs


def _mentions(item: Item, brand: str) -> bool:
    """Whether the item's facts already say `brand` (then it would not be made up)."""
    text = f"{item.title} {item.brand} {item.description}".casefold()
    return brand.casefold() in text


def tag_pairs(
    histories: Iterable[UserHistory], items: Mapping[str, Item], count: int, rng: random.Random
) -> list[Pair]:
    tags = category_tags(items.values())
    profiles: list[tuple[UserHistory, list[str]]] = []
    for history in histories:
        categories = [items[i.item_id].category for i in history.interactions if i.item_id in items]
        categories = [category for category in categories if category in tags]
        if len(categories) >= 2:
            profiles.append((history, [c for c, _ in Counter(categories).most_common()]))
    pairs: list[Pair] = []
    for history, own in rng.sample(profiles, min(count, len(profiles))):
        own_tags = {tags[category] for category in own}
        strangers = [
            tags[other[1][0]]
            for other in rng.sample(profiles, min(50, len(profiles)))
            if tags[other[1][0]] not in own_tags
        ]
        if not strangers:
            continue
        known = [i for i in history.interactions if i.item_id in items]
        behaviour = compress(known, items, BEHAVIOUR_BUDGET_TOKENS).text
        pairs.append(
            Pair("tags_user", "tag", tags[own[0]], strangers[0], behaviour=behaviour, user_id=history.user_id)
        )
    return pairs


def build_sets(
    items: Sequence[Item], histories: Iterable[UserHistory], per_set: int, seed: int
) -> dict[str, list[Pair]]:
    """Every set, `per_set` pairs each (fewer where the data has fewer), the same for the same seed."""
    by_id = {item.item_id: item for item in items}
    return {
        "explanation_item": explanation_pairs(items, per_set, random.Random(seed)),
        "tags_user": tag_pairs(histories, by_id, per_set, random.Random(seed + 1)),
        "grounding": grounding_pairs(items, per_set, random.Random(seed + 2)),
    }
