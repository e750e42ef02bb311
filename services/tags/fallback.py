"""The non-LLM tags, used whenever the LLM answer is unusable.

Generate mode falls back to the user's most frequent categories. Ranking mode falls back to the candidates it
was ranking, in the statistics' own order (frequent, then what follows the last category, then the most
taken): a better list than frequent categories alone (HR@30 0.420 against 0.185 on 200 evaluation users,
README), and already at hand.
"""

from __future__ import annotations

from recgpt.common.v1 import common_pb2
from recgpt_domain.behaviour_context import UNCATEGORISED, BehaviourContext

RATIONALE = "frequent in your history"
STATISTICS_RATIONALE = "frequent in your history, or often taken next"


def frequent_category_tags(context: BehaviourContext, k: int) -> list[common_pb2.Tag]:
    """Up to `k` tags, most frequent category first; each tag is tied to its own category as interest."""
    tags: list[common_pb2.Tag] = []
    for category, _count in context.top_categories:
        if category == UNCATEGORISED or not category.strip():
            continue
        if len(tags) >= k:
            break
        tags.append(
            common_pb2.Tag(
                tag=category, interest=category, rationale=RATIONALE, category=category, category_score=1.0
            )
        )
    return tags
