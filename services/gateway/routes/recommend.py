"""POST /v1/recommend: validate, run the user's pipeline variant, answer with the request id."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Depends

from gateway.deps import PipelinesDep, SettingsDep
from gateway.feed.honour import get_feed, honour_preferences
from gateway.feed.service import FeedService
from gateway.schemas import ErrorResponse, RecommendRequest, RecommendResponse
from recgpt_serving import context

router = APIRouter(tags=["recommend"])

# Headroom over the pipeline's own deadline before the request is abandoned: a safety net, since every
# call inside the pipeline already has its deadline.
_DEADLINE_SLACK_S = 0.05


@router.post(
    "/v1/recommend",
    response_model=RecommendResponse,
    responses={
        413: {"model": ErrorResponse, "description": "Request body too large"},
        422: {"model": ErrorResponse, "description": "Invalid request"},
        503: {
            "model": ErrorResponse,
            "description": "No route could answer and no last-resort page is held yet",
        },
    },
)
async def recommend(
    body: RecommendRequest,
    pipelines: PipelinesDep,
    settings: SettingsDep,
    feed: Annotated[FeedService | None, Depends(get_feed)],
) -> RecommendResponse:
    """`n` distinct items the user has not interacted with, best first, each with the route that found it."""
    pipeline = pipelines.get(body.variant)
    with context.bound(context.with_user(body.user_id)) as ctx:
        try:
            async with asyncio.timeout(settings.request_deadline_s + _DEADLINE_SLACK_S):
                result = await pipeline.recommend(body)
                # RecBot: the user's feed preferences hold in every variant.
                result = await honour_preferences(feed, body, result, settings)
        except TimeoutError:
            # The last-resort page (or a 503 when none is held): late, but not a failed request.
            result = pipelines.out_of_time(body)
    return RecommendResponse(
        request_id=ctx.request_id,
        user_id=body.user_id,
        variant=pipeline.name,
        cold_start=result.cold_start,
        degraded=result.degraded,
        items=result.items,
        profile=result.profile,
    )
