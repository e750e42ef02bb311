"""POST /v1/events: a batch of user events; each valid one stored once, each invalid one refused with why."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, ConfigDict, Field, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema
from redis.exceptions import RedisError

from experiments.events import CLIENT_EVENT, MAX_BATCH, Event, parse_batch
from gateway.auth.callers import CallerDep
from gateway.deps import ExperimentsDep
from gateway.schemas import ErrorResponse
from recgpt_serving import context
from recgpt_serving.metrics import EVENT_OUTCOMES, EXPERIMENT_EVENTS

router = APIRouter(tags=["events"])


@dataclass(frozen=True)
class _PublishedAsClientEvent:
    """Publishes an entry as the union of event kinds that `parse_batch` validates it with."""

    def __get_pydantic_json_schema__(
        self, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return handler(CLIENT_EVENT.core_schema)


class EventBatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Each entry is validated on its own by `parse_batch`, so one bad event spoils nothing else; the schema
    # shows what it accepts (experiments.events.ClientEvent).
    events: Annotated[
        list[Annotated[dict[str, Any], _PublishedAsClientEvent()]],
        Field(min_length=1, max_length=MAX_BATCH),
    ]


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
        401: {
            "model": ErrorResponse,
            "description": "No API key, an unknown or revoked one, or an end users' key without X-User-Token",
        },
        403: {
            "model": ErrorResponse,
            "description": "The key lacks the events:write scope, or the user token names another user",
        },
        413: {"model": ErrorResponse, "description": "Request body too large"},
        422: {"model": ErrorResponse, "description": "Invalid batch, or every event of it invalid"},
        429: {"model": ErrorResponse, "description": "The key's rate limit: retry after Retry-After"},
        503: {
            "model": ErrorResponse,
            "description": "Event store unavailable, or the gateway overloaded: retry the batch",
        },
    },
)
async def post_events(batch: EventBatch, experiments: ExperimentsDep, caller: CallerDep) -> EventsResponse:
    """Events with client event ids: stored with the user's arms; a retried event id is counted once."""
    valid, rejected = parse_batch(batch.events)
    # Every event's user must be one the caller may act for: otherwise nothing of the batch is stored.
    caller.check_users({event.user_id for _, event in valid})
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
