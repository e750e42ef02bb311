"""RecBot's feed: POST /v1/feed/command, GET and DELETE /v1/feed/preferences."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query

from gateway.auth.callers import Caller, CallerDep
from gateway.feed.honour import get_feed
from gateway.feed.schemas import FeedCommandRequest, FeedCommandResponse, PreferencesResponse
from gateway.feed.service import FeedService, FeedUnavailable
from gateway.schemas import ErrorResponse, RecommendedItem, UserId
from recgpt_domain.preferences import Versioned
from recgpt_serving import context, metrics

router = APIRouter(tags=["feed"])
_ERRORS: dict[int | str, dict[str, object]] = {
    422: {"model": ErrorResponse, "description": "Invalid request or command (empty, too long)"},
    503: {"model": ErrorResponse, "description": "A dependency is down: the reason says what was stored"},
}


async def _feed(feed: Annotated[FeedService | None, Depends(get_feed)]) -> FeedService:
    if feed is None:
        raise HTTPException(503, "the feed is not ready")
    return feed


FeedDep = Annotated[FeedService, Depends(_feed)]


def _refuse(error: FeedUnavailable) -> HTTPException:
    return HTTPException(error.status, error.reason)


@router.post("/v1/feed/command", response_model=FeedCommandResponse, responses=_ERRORS)
async def command(body: FeedCommandRequest, feed: FeedDep, caller: CallerDep) -> FeedCommandResponse:
    """Parses the command into preferences, stores them, and answers with the next page they give."""
    caller.check_users([body.user_id])
    with context.bound(context.with_user(body.user_id)) as ctx:
        try:
            outcome = await feed.command(body)
        except FeedUnavailable as error:
            metrics.FEED_COMMANDS.labels("invalid" if error.status < 500 else "unavailable").inc()
            raise _refuse(error) from None
    metrics.FEED_COMMANDS.labels("ok").inc()
    for stage in ("read", "parse", "store", "plan", "total"):
        metrics.FEED_STAGE_DURATION.labels(stage).observe(getattr(outcome.timings, stage))
    page = outcome.page
    items = []
    if page is not None:
        for scored in page.items:
            item = scored.item
            items.append(
                RecommendedItem(
                    item_id=item.item_id,
                    title=item.title,
                    score=round(scored.score, 6),
                    route=scored.route,
                    category=item.category_path[-1] if item.category_path else "",
                    brand=item.brand,
                )
            )
    return FeedCommandResponse(
        request_id=ctx.request_id,
        user_id=body.user_id,
        preferences=outcome.stored.preferences,
        version=outcome.stored.version,
        parts=outcome.parts(),
        llm_status=outcome.parsed.llm_status,
        fallback=outcome.parsed.fallback,
        plan=outcome.plan(),
        items=items,
        allowed_items=page.allowed_items if page is not None else 0,
        degraded=outcome.degraded,
        timings=outcome.timings,
    )


def _answer(request_id: str, user_id: str, stored: Versioned) -> PreferencesResponse:
    return PreferencesResponse(
        request_id=request_id,
        user_id=user_id,
        preferences=stored.preferences,
        version=stored.version,
        updated_at_unix=stored.updated_at_unix,
    )


@router.get("/v1/feed/preferences", response_model=PreferencesResponse, responses=_ERRORS)
async def read_preferences(
    user_id: Annotated[UserId, Query()], feed: FeedDep, caller: CallerDep
) -> PreferencesResponse:
    """The preferences in force (version 0 when none)."""
    return await _preferences(user_id, caller, feed.read)


@router.delete("/v1/feed/preferences", response_model=PreferencesResponse, responses=_ERRORS)
async def forget_preferences(
    user_id: Annotated[UserId, Query()], feed: FeedDep, caller: CallerDep
) -> PreferencesResponse:
    """Forgets them: a new version with none."""
    return await _preferences(user_id, caller, feed.reset)


async def _preferences(
    user_id: str, caller: Caller, operation: Callable[[str], Awaitable[Versioned]]
) -> PreferencesResponse:
    caller.check_users([user_id])
    with context.bound(context.with_user(user_id)) as ctx:
        try:
            stored = await operation(user_id)
        except FeedUnavailable as error:
            raise _refuse(error) from None
    return _answer(ctx.request_id, user_id, stored)
