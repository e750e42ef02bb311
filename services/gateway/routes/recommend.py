"""POST /v1/recommend: validate, assign the user to arms, run the arm's pipeline variant, log the exposure."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from typing import Annotated

from fastapi import APIRouter, Depends

from experiments import request_params
from experiments.assignment import Assignment
from experiments.serving import Experiments
from gateway.auth.callers import CallerDep
from gateway.deps import ExperimentsDep, PipelinesDep, SettingsDep
from gateway.feed.honour import get_feed, honour_preferences
from gateway.feed.service import FeedService
from gateway.pipelines.base import Recommendation
from gateway.schemas import ErrorResponse, RecommendRequest, RecommendResponse
from recgpt_serving import context

router = APIRouter(tags=["recommend"])

# Headroom over the pipeline's own deadline before the request is abandoned: a safety net, since every
# call inside the pipeline already has its deadline.
_DEADLINE_SLACK_S = 0.05
# recgpt-v1 answers that did not use an LLM profile count as fallbacks in the experiment guardrails.
_FALLBACK_PROFILES = ("fallback", "miss", "unavailable")
_UNASSIGNED = Assignment()


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
    experiments: ExperimentsDep,
    feed: Annotated[FeedService | None, Depends(get_feed)],
    caller: CallerDep,
) -> RecommendResponse:
    """`n` distinct items the user has not interacted with, best first, each with the route that found it."""
    caller.check_users([body.user_id])
    started = time.perf_counter()
    assignment = experiments.assign(body.user_id) if settings.experiments_enabled else _UNASSIGNED
    routed = with_arm_params(body, assignment)
    pipeline = pipelines.get(routed.variant)
    ctx = context.with_user(body.user_id)
    if assignment.arms:
        # The arm's adapters ride the request context to the agents (gRPC metadata).
        adapters = request_params.adapter_choices(assignment.params)
        ctx = replace(ctx, experiment=assignment.label(), adapters=adapters)
    with context.bound(ctx):
        result: Recommendation | None = None
        try:
            with request_params.bound(assignment.params):
                async with asyncio.timeout(settings.request_deadline_s + _DEADLINE_SLACK_S):
                    result = await pipeline.recommend(routed)
                    # RecBot: the user's feed preferences hold in every variant.
                    result = await honour_preferences(feed, routed, result, settings)
        except TimeoutError:
            # The last-resort page (or a 503 when none is held): late, but not a failed request; the
            # user's hard constraints hold on it too.
            result = await honour_preferences(feed, routed, pipelines.out_of_time(routed), settings)
        finally:
            if settings.experiments_enabled:
                _expose(experiments, body, ctx.request_id, assignment, pipeline.name, result, started)
    assert result is not None  # the pipeline answered or raised
    return RecommendResponse(
        request_id=ctx.request_id,
        user_id=body.user_id,
        variant=pipeline.name,
        cold_start=result.cold_start,
        degraded=result.degraded,
        items=result.items,
        profile=result.profile,
    )


def with_arm_params(body: RecommendRequest, assignment: Assignment) -> RecommendRequest:
    """The request with the variant and page size its arms set, unless the request named them itself."""
    params = assignment.params
    update: dict[str, object] = {}
    if params.variant is not None and "variant" not in body.model_fields_set:
        update["variant"] = params.variant
    if params.n is not None and "n" not in body.model_fields_set:
        update["n"] = params.n
    return body.model_copy(update=update) if update else body


def _expose(
    experiments: Experiments,
    body: RecommendRequest,
    request_id: str,
    assignment: Assignment,
    variant: str,
    result: Recommendation | None,
    started: float,
) -> None:
    # No result: the pipeline raised (PipelineUnavailable answers 503, anything else 500).
    degraded = (
        result is None or bool(result.degraded) or result.profile in ("fallback", "miss", "unavailable")
    )
    experiments.expose(
        user_id=body.user_id,
        request_id=request_id,
        assignment=assignment,
        variant=variant,
        status=200 if result is not None else 503,
        latency_ms=(time.perf_counter() - started) * 1000,
        fallback=degraded,
        override="variant" in body.model_fields_set,
    )
