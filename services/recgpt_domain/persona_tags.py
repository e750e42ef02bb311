"""RecGPT-V2's experts and arbiter over catalogue categories: each expert's pool, the union of their picks,
and the arbiter's final list.

An expert chooses among its own pool (choose mode's constrained decoding, `recgpt_domain.tag_choice`): the
persona's categories, then, taken in turn, what most often follows each of them and the categories nearest
the persona's text in the embedding space. Pools of different personas reach past the statistics' top
categories of the user, which a single choose-mode call never leaves. The arbiter picks the final N from the
union; when it picks fewer, the union's round-robin order (each expert's best first) fills the rest.

The pool is built here (`ExpertPools`), where the tag service and the experts' training share it: an expert
trained on other pools than it is served would learn another task.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import zip_longest
from typing import Protocol, TypeVar

T = TypeVar("T")

# The experts' serving defaults (`tags.settings`: RECGPT_EXPERT_TAGS, _POOL, _NEAR, _BUDGET_TOKENS), which
# their training examples copy: picks asked of an expert, its pool, the categories near its persona's text
# in that pool, and the tokens of latest behaviour it reads.
EXPERT_TAGS = 10
EXPERT_POOL = 18
EXPERT_NEAR = 8
EXPERT_BUDGET_TOKENS = 160


def round_robin(lists: Iterable[Iterable[T]]) -> Iterator[T]:
    """The first of each list, then the second of each, ... (lists may differ in length)."""
    for row in zip_longest(*lists):
        yield from (value for value in row if value is not None)


def expert_pool(
    seeds: Sequence[str],
    follows: Mapping[str, Sequence[str]],
    near: Sequence[str],
    nameable: Mapping[str, str],
    size: int,
) -> list[str]:
    """The persona's categories, then their followers and the categories near its text, in turn; each once,
    only categories with a name (`nameable`), at most `size`."""
    sources = [list(seeds), *(follows.get(seed, ()) for seed in seeds), list(near)]
    pool: dict[str, None] = {}
    for category in round_robin(sources):
        if category in nameable:
            pool.setdefault(category, None)
        if len(pool) == size:
            break
    return list(pool)


class NearCategories(Protocol):
    """The categories nearest each text by embedding (in production: `category_map.CategoryMapper`)."""

    def nearest(self, texts: Sequence[str], count: int) -> list[list[str]]: ...


@dataclass(frozen=True)
class ExpertPools:
    """An expert's pool from its persona, as the tag service builds it: `expert_pool` over the statistics'
    followers and the categories nearest the persona's text, only those with a name."""

    follows: Mapping[str, Sequence[str]]
    names: Mapping[str, str]
    near: NearCategories | None
    near_count: int = EXPERT_NEAR
    size: int = EXPERT_POOL

    def pool(self, persona: str, categories: Sequence[str]) -> list[str]:
        """`persona`'s pool (its text and the categories it rests on), best first."""
        return self.pools([(persona, categories)])[0]

    def pools(self, personas: Sequence[tuple[str, Sequence[str]]]) -> list[list[str]]:
        """The pools of several personas, their texts embedded in one batch."""
        texts = list(dict.fromkeys(text for text, _ in personas))
        near: dict[str, list[str]] = {}
        if self.near is not None and self.near_count and texts:
            near = dict(zip(texts, self.near.nearest(texts, self.near_count), strict=True))
        return [
            expert_pool(categories, self.follows, near.get(text, []), self.names, self.size)
            for text, categories in personas
        ]


@dataclass(frozen=True)
class Union:
    """The experts' picks merged: distinct categories in round-robin order, with who proposed each first."""

    categories: list[str]
    persona_of: dict[str, str]
    picks: int

    @property
    def duplicates(self) -> int:
        """Picks naming a category another pick already named."""
        return self.picks - len(self.categories)

    @property
    def duplicate_share(self) -> float:
        return self.duplicates / self.picks if self.picks else 0.0


def union_of(picks_by_persona: Sequence[tuple[str, Sequence[str]]]) -> Union:
    """`picks_by_persona`: (persona, its expert's categories in its order), in the planner's order."""
    persona_of: dict[str, str] = {}
    tagged = [[(category, persona) for category in picks] for persona, picks in picks_by_persona]
    for category, persona in round_robin(tagged):
        persona_of.setdefault(category, persona)
    picks = sum(len(picks) for _, picks in picks_by_persona)
    return Union(list(persona_of), persona_of, picks)


def arbitrated(chosen: Sequence[str], union: Sequence[str], limit: int) -> tuple[list[str], int]:
    """The arbiter's picks (those of the union, each once), topped up from the union's order to `limit`;
    returns the list and how many were topped up."""
    allowed = set(union)
    final = list(dict.fromkeys(category for category in chosen if category in allowed))[:limit]
    picked = len(final)
    for category in union:
        if len(final) >= limit:
            break
        if category not in final:
            final.append(category)
    return final, len(final) - picked
