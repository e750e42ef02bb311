"""The non-LLM tag baselines the LLM's tags must beat: frequent categories, then frequent + transitions.

Frequent: the user's most frequent history categories. Frequent + transitions: those, then the categories
that most often follow the user's last category in the training users' sequences (never an evaluated
user's), then, while slots are left, the categories that most often follow any category. The LLM's tags
topped up with frequent + transitions answer the issue's question: does the LLM add hits the statistics
lack?
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import pairwise

from evaluation.split import Split
from recgpt.common.v1 import common_pb2


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


def frequent_then_transitions(
    frequent: Sequence[str], last_category: str, transitions: CategoryTransitions, k: int
) -> list[str]:
    """The user's frequent categories, then what follows their last category, k at most."""
    return topped_up(frequent, transitions.after(last_category), k)


def training_transitions(
    splits: Sequence[Split], evaluated: Sequence[Split], served: Mapping[str, common_pb2.Item]
) -> CategoryTransitions:
    """Leaf-category transitions over every user not evaluated, whole sequences (their last items too)."""
    evaluated_ids = {split.user_id for split in evaluated}

    def categories(split: Split) -> list[str]:
        items = (served.get(i.item_id) for i in (*split.history, split.target))
        return [item.category_path[-1] for item in items if item is not None and item.category_path]

    return CategoryTransitions.count(categories(s) for s in splits if s.user_id not in evaluated_ids)
