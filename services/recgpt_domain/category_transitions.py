"""Which category follows which in users' sequences: the statistics the tag agent's candidates come from.

The "frequent + transitions" statistic (a user's frequent categories, then the categories that most often
follow their last one) is the honest bar for tag prediction; the evaluation reports it, and the tag service's
ranking mode proposes its top categories for the model to order.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import pairwise

from recgpt_domain.catalogue import Item, UserHistory


@dataclass(frozen=True)
class CategoryTransitions:
    """Counts of "category b came right after category a" in training users' sequences."""

    follows: dict[str, list[str]] = field(default_factory=dict)
    # Every next category by how often it followed anything: the last fill when a category has few followers.
    popular: list[str] = field(default_factory=list)
    users: int = 0
    transitions: int = 0

    @classmethod
    def count(cls, sequences: Iterable[Sequence[str]]) -> CategoryTransitions:
        """`sequences` are the training users' categories, oldest first; empty categories are skipped."""
        pairs: defaultdict[str, Counter[str]] = defaultdict(Counter)
        overall: Counter[str] = Counter()
        users = transitions = 0
        for sequence in sequences:
            categories = [category for category in sequence if category]
            users += 1
            for before, after in pairwise(categories):
                pairs[before][after] += 1
                overall[after] += 1
                transitions += 1
        return cls(
            follows={before: _ranked(counts) for before, counts in pairs.items()},
            popular=_ranked(overall),
            users=users,
            transitions=transitions,
        )

    def after(self, category: str) -> list[str]:
        """The categories that followed `category`, most frequent first; then the popular ones."""
        return [*self.follows.get(category, ()), *self.popular]


def _ranked(counts: Counter[str]) -> list[str]:
    """By count, ties by name, so that the same data always gives the same list."""
    return [value for value, _ in sorted(counts.items(), key=lambda pair: (-pair[1], pair[0]))]


def topped_up(first: Iterable[str], fill: Iterable[str], k: int) -> list[str]:
    """`first`, then `fill`, without repeats or empty names, cut to k."""
    chosen: dict[str, None] = {}
    for value in (*first, *fill):
        if len(chosen) >= k:
            break
        if value:
            chosen.setdefault(value, None)
    return list(chosen)


def category_sequences(histories: Iterable[UserHistory], items: Mapping[str, Item]) -> Iterable[list[str]]:
    """Each user's leaf categories, oldest first as the catalogue stores them (unknown items skipped)."""
    for history in histories:
        yield [
            item.category
            for interaction in history.interactions
            if (item := items.get(interaction.item_id)) is not None and item.category
        ]
