"""A user's behaviour compressed the RecGPT-V1 way, into the few lines an LLM agent reads.

Items are reduced to their core attributes (title, brand), grouped by category, repeats merged into one
line with a count, most recent first (groups by their latest interaction, items within a group likewise),
and cut to a token budget: whole lines are dropped from the oldest end, so what the agent reads is always
the most recent behaviour. The token count is an estimate (characters per token, measured on the
served model's tokenizer: see `CHARS_PER_TOKEN`); vLLM's usage figures report the real count.

With entity tokens (RecGPT-V2's hybrid representation) the same lines are also rendered with each item's
title and brand replaced by a marker naming the item (`entity_marker`), which the LLM client turns into the
item's one-token embedding (`recgpt_serving.llm.entity_tokens`); the lines kept are the text's, so the two
renderings say the same and differ only in what they cost.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Container, Mapping, Sequence
from dataclasses import dataclass, field

from recgpt.common.v1 import common_pb2
from recgpt_domain.catalogue import Interaction, Item

# SmolLM2's tokenizer on these lines (titles, brands, category names), measured on 200 random users of
# each dataset: 2.8 characters per token on Amazon Scientific and 2.1 on MovieLens (digits are one token
# each: years, ratings, sizes). At 3.5 the estimate undercounts: 109 of 200 MovieLens users went over a
# 1,200-token budget (1 of 200 on Amazon); at 2.0 one did.
CHARS_PER_TOKEN = 2.0
DEFAULT_BUDGET_TOKENS = 1200
MAX_TITLE_CHARS = 80
NO_BEHAVIOUR = "(no recorded behaviour yet)"
UNCATEGORISED = "Other"
# The longest interest an agent answers (the interest miner's JSON schema holds it to this).
INTEREST_MAX_CHARS = 60
# Delimits an item id in `entity_text`: a private-use character, taken out of every title and brand.
ENTITY_MARK = "\ue000"


def entity_marker(item_id: str) -> str:
    return f"{ENTITY_MARK}{item_id}{ENTITY_MARK}"


@dataclass(frozen=True)
class BehaviourContext:
    """The compressed text and what went into it."""

    text: str
    estimated_tokens: int
    # Distinct catalogue items the user touched, and how many of them made it into `text`.
    items_total: int
    items_used: int
    # Interactions whose item is not in the catalogue (left out).
    unknown_items: int
    # Most frequent categories first, with their interaction counts: the non-LLM fallback's input.
    top_categories: list[tuple[str, int]] = field(default_factory=list)
    # Distinct item ids, most recent first.
    recent_item_ids: list[str] = field(default_factory=list)
    # The same lines with entity markers for the items that have an entity token; "" when none asked.
    entity_text: str = ""
    # How many item lines `entity_text` holds as markers.
    entities: int = 0

    @property
    def truncated(self) -> bool:
        return self.items_used < self.items_total


def estimate_tokens(text: str) -> int:
    return int(len(text) / CHARS_PER_TOKEN) + 1


@dataclass
class _ItemLine:
    item: Item
    count: int = 0
    last_position: int = -1
    best_rating: float | None = None

    def render(self, entity: bool = False) -> str:
        if entity:
            parts = [f"- {entity_marker(self.item.item_id)}"]
        else:
            title = " ".join(self.item.title.replace(ENTITY_MARK, "").split())
            if len(title) > MAX_TITLE_CHARS:
                title = title[: MAX_TITLE_CHARS - 1].rstrip() + "…"
            parts = [f"- {title or self.item.item_id}"]
            if self.item.brand:
                parts.append(f"(brand: {self.item.brand.replace(ENTITY_MARK, '')})")
        if self.count > 1:
            parts.append(f"x{self.count}")
        if self.best_rating is not None:
            parts.append(f"rated {self.best_rating:g}/5")
        return " ".join(parts)


def compress(
    interactions: Sequence[Interaction],
    items: Mapping[str, Item],
    budget_tokens: int = DEFAULT_BUDGET_TOKENS,
    entity_items: Container[str] = (),
) -> BehaviourContext:
    """`interactions` oldest first, as the behaviour log holds them; the items in `entity_items` (those
    with an entity token) are markers in `entity_text`."""
    lines: dict[str, _ItemLine] = {}
    unknown = 0
    for position, interaction in enumerate(interactions):
        item = items.get(interaction.item_id)
        if item is None:
            unknown += 1
            continue
        line = lines.setdefault(item.item_id, _ItemLine(item))
        line.count += 1
        line.last_position = position
        if interaction.rating is not None:
            line.best_rating = max(line.best_rating or 0.0, interaction.rating)
    if not lines:
        return BehaviourContext(NO_BEHAVIOUR, estimate_tokens(NO_BEHAVIOUR), 0, 0, unknown)

    recent_first = sorted(lines.values(), key=lambda line: line.last_position, reverse=True)
    category_counts: Counter[str] = Counter()
    for line in recent_first:
        category_counts[line.item.category or UNCATEGORISED] += line.count

    kept = _within_budget(recent_first, budget_tokens)
    text = _render(kept)
    entities = sum(1 for line in kept if line.item.item_id in entity_items)
    return BehaviourContext(
        text=text,
        estimated_tokens=estimate_tokens(text),
        items_total=len(recent_first),
        items_used=len(kept),
        unknown_items=unknown,
        top_categories=category_counts.most_common(),
        recent_item_ids=[line.item.item_id for line in recent_first],
        entity_text=_render(kept, entity_items) if entities else "",
        entities=entities,
    )


def _within_budget(recent_first: list[_ItemLine], budget_tokens: int) -> list[_ItemLine]:
    """The longest most-recent prefix of item lines whose rendering fits the budget (at least one line)."""
    budget_chars = budget_tokens * CHARS_PER_TOKEN
    used = 0.0
    seen_categories: set[str] = set()
    kept: list[_ItemLine] = []
    for line in recent_first:
        category = line.item.category or UNCATEGORISED
        cost = len(line.render()) + 1
        if category not in seen_categories:
            cost += len(_heading(category, 0)) + 1
        if kept and used + cost > budget_chars:
            break
        seen_categories.add(category)
        used += cost
        kept.append(line)
    return kept


def _heading(category: str, count: int) -> str:
    return f"{category.replace(ENTITY_MARK, '')} ({count} items):"


def _render(kept: list[_ItemLine], entity_items: Container[str] = ()) -> str:
    groups: dict[str, list[_ItemLine]] = {}
    for line in kept:  # most recent first, so groups come in order of their latest item
        groups.setdefault(line.item.category or UNCATEGORISED, []).append(line)
    out: list[str] = []
    for category, members in groups.items():
        out.append(_heading(category, sum(member.count for member in members)))
        out.extend(member.render(member.item.item_id in entity_items) for member in members)
    return "\n".join(out)


@dataclass(frozen=True)
class FrequentCategory:
    """One of the user's categories: its catalogue name, the interest naming it, and its interactions."""

    category: str
    interest: str
    count: int


def frequent_categories(context: BehaviourContext, limit: int) -> list[FrequentCategory]:
    """The user's categories, most frequent first; items without a category say nothing. The interest naming
    a category is its name cut at a word, as the agent's own interests are bounded: a catalogue's category can
    be a paragraph (one of Amazon Scientific's runs to 695 characters), which the tag agent would refuse as an
    interest. Two categories that cut to the same interest count once."""
    found: dict[str, FrequentCategory] = {}
    for category, count in context.top_categories:
        if category == UNCATEGORISED or not category.strip():
            continue
        interest = _cut_at_word(" ".join(category.split()), INTEREST_MAX_CHARS)
        if interest.casefold() in found:
            continue
        found[interest.casefold()] = FrequentCategory(category, interest, count)
        if len(found) >= limit:
            break
    return list(found.values())


def frequent_category_interests(context: BehaviourContext, limit: int) -> list[common_pb2.Interest]:
    """One interest per category, most frequent first (`frequent_categories`): the non-LLM interests."""
    return [
        common_pb2.Interest(
            interest=frequent.interest,
            reason=f"{frequent.count} of your recent items {'is' if frequent.count == 1 else 'are'} "
            "in this category",
        )
        for frequent in frequent_categories(context, limit)
    ]


def _cut_at_word(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text[: limit + 1].rsplit(" ", 1)[0]
    return (cut if cut and len(cut) <= limit else text[:limit]).rstrip(" ,;&-")
