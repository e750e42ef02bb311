"""RecGPT-V2's experts and arbiter over catalogue categories: each expert's pool, the union of their picks,
and the arbiter's final list.

An expert chooses among its own pool (choose mode's constrained decoding, `recgpt_domain.tag_choice`): the
persona's categories, then, taken in turn, what most often follows each of them and the categories nearest
the persona's text in the embedding space. Pools of different personas reach past the statistics' top
categories of the user, which a single choose-mode call never leaves. The arbiter picks the final N from the
union; when it picks fewer, the union's round-robin order (each expert's best first) fills the rest.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import zip_longest
from typing import TypeVar

T = TypeVar("T")


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
