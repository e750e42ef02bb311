"""The non-LLM interests: the user's most frequent categories, used whenever the LLM answer is unusable."""

from __future__ import annotations

from recgpt.common.v1 import common_pb2
from recgpt_domain.behaviour_context import UNCATEGORISED, BehaviourContext


def frequent_category_interests(context: BehaviourContext, limit: int) -> list[common_pb2.Interest]:
    """One interest per category, most frequent first; items without a category say nothing."""
    interests = []
    for category, count in context.top_categories:
        if category == UNCATEGORISED or not category.strip():
            continue
        verb = "is" if count == 1 else "are"
        interests.append(
            common_pb2.Interest(
                interest=category, reason=f"{count} of your recent items {verb} in this category"
            )
        )
        if len(interests) >= limit:
            break
    return interests
