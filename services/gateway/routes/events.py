"""POST /v1/events: a batch of user events; each valid one stored once, each invalid one refused with why."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, ConfigDict, Field
from redis.exceptions import RedisError

from experiments.events import MAX_BATCH, Event, parse_batch
from gateway.deps import ExperimentsDep
from gateway.schemas import ErrorResponse
from recgpt_serving import context
from recgpt_serving.metrics import EVENT_OUTCOMES, EXPERIMENT_EVENTS

router = APIRouter(tags=["events"])


class EventBatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Each entry is validated on its own (see experiments.events.Event), so one bad event spoils nothing else.
    events: Annotated[list[dict[str, Any]], Field(min_length=1, max_length=MAX_BATCH)]


class RejectedEvent(BaseModel):
    index: int
    event_id: str | None
    reason: str


class EventsResponse(BaseModel):
    request_id: str
    # Stored now; a duplicate was stored before (same event id) and is not counted again.
    stored: list[str]
    duplicates: list[str]
    rejected: list[RejectedEvent]


@router.post(
    "/v1/events",
    response_model=EventsResponse,
    responses={
        413: {"model": ErrorResponse, "description": "Request body too large"},
        422: {"model": ErrorResponse, "description": "Invalid batch, or every event of it invalid"},
        503: {"model": ErrorResponse, "description": "Event store unavailable: retry the batch"},
    },
)
async def post_events(batch: EventBatch, experiments: ExperimentsDep) -> EventsResponse:
    """Events with client event ids: stored with the user's arms; a retried event id is counted once."""
    valid, rejected = parse_batch(list(batch.events))
    for _ in rejected:
        EVENT_OUTCOMES.labels("invalid", "rejected").inc()
    if not valid:
        reasons = "; ".join(f"event {r.index}: {r.reason}" for r in rejected[:3])
        raise HTTPException(422, f"invalid request: every event was invalid: {reasons}")
    # The arms at arrival (no assignment metric: the user was not served here).
    labelled: list[tuple[Event, str]] = [
        (event, experiments.runtime.assign(event.user_id).label()) for _, event in valid
    ]
    try:
        flags = await experiments.events.store(labelled, experiments.runtime.revision)
    except (RedisError, TimeoutError, OSError) as error:
        for event, _ in labelled:
            EVENT_OUTCOMES.labels(event.type, "failed").inc()
        raise HTTPException(
            503, "event store unavailable: retry the batch (event ids make a retry safe)"
        ) from error
    stored, duplicates = [], []
    for (event, arms), fresh in zip(labelled, flags, strict=True):
        EVENT_OUTCOMES.labels(event.type, "stored" if fresh else "duplicate").inc()
        if fresh:
            stored.append(event.event_id)
            _count_per_arm(event, arms)
        else:
            duplicates.append(event.event_id)
    body = EventsResponse(
        request_id=context.current().request_id,
        stored=stored,
        duplicates=duplicates,
        rejected=[RejectedEvent(index=r.index, event_id=r.event_id, reason=r.reason) for r in rejected],
    )
    return body


def _count_per_arm(event: Event, arms: str) -> None:
    if not arms:
        EXPERIMENT_EVENTS.labels("none", "none", event.type).inc()
    for pair in arms.split(",") if arms else ():
        experiment, _, arm = pair.partition(":")
        EXPERIMENT_EVENTS.labels(experiment, arm, event.type).inc()
