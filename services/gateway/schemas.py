"""The HTTP contract: what /v1/recommend accepts and answers, strict so that bad input is a 422."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictInt, StrictStr, StringConstraints

MAX_ITEMS = 100
MAX_CONTEXT_ENTRIES = 16

# Printable ASCII without spaces: user ids travel in gRPC metadata, which allows nothing else.
UserId = Annotated[StrictStr, StringConstraints(min_length=1, max_length=128, pattern=r"^[!-~]+$")]
ContextKey = Annotated[StrictStr, StringConstraints(min_length=1, max_length=64)]
ContextValue = Annotated[StrictStr, StringConstraints(max_length=256)] | StrictInt | StrictFloat
# Pipeline variants a request may ask for (the experiment arms); the app registers one pipeline each.
Variant = Literal["baseline", "recgpt-v1"]
VARIANTS: tuple[Variant, ...] = ("baseline", "recgpt-v1")
# Whether the recgpt-v1 answer used the user's LLM profile: found, found but an agent's non-LLM fallback
# made it (its tags are the user's frequent categories, not the LLM's), not there yet (queued), Redis failed.
ProfileState = Literal["hit", "fallback", "miss", "unavailable"]


class RecommendRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    user_id: UserId
    n: Annotated[StrictInt, Field(ge=1, le=MAX_ITEMS)] = 10
    # Page context from the shop (page, device, locale...): small and flat, never free-form documents.
    context: Annotated[dict[ContextKey, ContextValue], Field(max_length=MAX_CONTEXT_ENTRIES)] = Field(
        default_factory=dict
    )
    # Chosen per request for now; A/B routing will pick it per user when the field is left out.
    variant: Variant = "baseline"


class RecommendedItem(BaseModel):
    item_id: str
    title: str
    score: float
    # Which route(s) brought the item, joined by +: collaborative, content, tag or popular.
    route: str
    category: str = ""
    brand: str = ""
    # recgpt-v1: the profile interest and tag that brought the item, and why it suits the user.
    interest: str | None = None
    tag: str | None = None
    explanation: str | None = None


class RecommendResponse(BaseModel):
    request_id: str
    user_id: str
    variant: str
    # True when the user has no history and the items are the popular ones.
    cold_start: bool
    # Dependencies that failed or ran out of time; the answer came without them.
    degraded: list[str]
    items: list[RecommendedItem]
    # recgpt-v1 only: whether the user's LLM profile was used (hit), one from fallback answers was used
    # (fallback), or it was missing (miss) or unreadable.
    profile: ProfileState | None = None


class ErrorResponse(BaseModel):
    request_id: str
    reason: str
    detail: list[dict[str, object]] | None = None
    degraded: list[str] | None = None


class ReadinessResponse(BaseModel):
    ready: bool
    # Dependency name -> "ok" or why it failed.
    checks: dict[str, str]
    failed: list[str]
