"""The non-LLM tag baselines the LLM's tags must beat: frequent categories, then frequent + transitions.

Frequent: the user's most frequent history categories. Frequent + transitions: those, then the categories
that most often follow the user's last category in the training users' sequences (never an evaluated
user's), then, while slots are left, the categories that most often follow any category. The LLM's tags
topped up with frequent + transitions answer the issue's question: does the LLM add hits the statistics
lack?
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from evaluation.split import Split
from recgpt.common.v1 import common_pb2
from recgpt_domain.category_transitions import CategoryTransitions, topped_up


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
