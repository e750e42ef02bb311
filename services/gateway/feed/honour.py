"""`POST /v1/recommend` under the feed's preferences, whatever the variant: its page is the behaviour score
that the retrieval tools re-plan with the hard constraints filtered and the soft ones weighed."""

from __future__ import annotations

from fastapi import Request

from gateway.feed.service import FeedService
from gateway.pipelines.base import PipelineUnavailable, Recommendation
from gateway.schemas import RecommendedItem, RecommendRequest
from gateway.settings import GatewaySettings
from recgpt.common.v1 import common_pb2

# The `degraded` names of this step (see gateway.schemas.RecommendResponse).
PREFERENCES_UNREAD = "redis.preferences"
PREFERENCES_LAST_SEEN = "redis.preferences.last_seen"
# The pipeline's own Redis reads that failed (not retrieval's: "redis.behaviour").
_GATEWAY_REDIS = frozenset({"redis", "redis.profile"})


async def get_feed(request: Request) -> FeedService | None:
    feed: FeedService | None = getattr(request.app.state, "feed", None)
    return feed


async def honour_preferences(
    feed: FeedService | None, request: RecommendRequest, result: Recommendation, settings: GatewaySettings
) -> Recommendation:
    """The variant's answer, re-planned when the user has preferences in force (named in `degraded` when
    they could not be applied)."""
    if feed is None:
        return result
    base = [
        common_pb2.ScoredItem(item=common_pb2.Item(item_id=item.item_id), score=item.score, route=item.route)
        for item in result.items
    ]
    # The rest of the request's budget (the route's own timeout still bounds it).
    budget = min(settings.feed_plan_deadline_s, settings.request_deadline_s)
    # Redis just failed this request: another read would only spend its deadline again.
    read_redis = not _GATEWAY_REDIS & set(result.degraded)
    planned, failed, hard = await feed.honour(
        request.user_id, request.n, base, budget, read_redis, read_with_routes=result.preferences
    )
    if failed:
        # With a page: honoured with the preferences this gateway last saw (Redis could not give them).
        result.degraded.append(failed)
    if planned is None and hard:
        # Known hard constraints that could not be checked: no page rather than one that may break them.
        raise PipelineUnavailable("the user's feed preferences could not be applied", result.degraded)
    if planned is None:
        return result
    kept = {item.item_id: item for item in result.items}
    items = []
    for scored in planned.items:
        item = scored.item
        original = kept.get(item.item_id)
        items.append(
            original.model_copy(update={"score": round(scored.score, 6)})
            if original is not None
            else RecommendedItem(
                item_id=item.item_id,
                title=item.title,
                score=round(scored.score, 6),
                route=scored.route,
                category=item.category_path[-1] if item.category_path else "",
                brand=item.brand,
            )
        )
    result.items = items
    return result
