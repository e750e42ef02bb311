"""A profile's tags as the tag route's queries: the gateway serves with them, the evaluation measures them."""

from __future__ import annotations

from recgpt.common.v1 import common_pb2
from recgpt_domain.profile_store import UserProfile


def tag_queries(profile: UserProfile, limit: int) -> list[common_pb2.Tag]:
    """The profile's tags as retrieval queries: non-empty, each once (case-insensitive), at most `limit`."""
    tags: dict[str, common_pb2.Tag] = {}
    for tag in profile.tags:
        text = tag.tag.strip()
        if text and text.casefold() not in tags:
            tags[text.casefold()] = common_pb2.Tag(
                tag=text,
                interest=tag.interest.strip(),
                rationale=tag.rationale,
                category=tag.category,
                category_score=tag.category_score,
            )
            if len(tags) == limit:
                break
    return list(tags.values())
