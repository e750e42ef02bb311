"""The HTTP contract: what /v1/recommend accepts and answers, strict so that bad input is a 422."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictFloat,
    StrictInt,
    StrictStr,
    StringConstraints,
)

from recgpt_domain.json_types import whole_float_as_int

MAX_ITEMS = 100
MAX_CONTEXT_ENTRIES = 16


# Printable ASCII without spaces: user ids travel in gRPC metadata, which allows nothing else.
UserId = Annotated[StrictStr, StringConstraints(min_length=1, max_length=128, pattern=r"^[!-~]+$")]
ContextKey = Annotated[StrictStr, StringConstraints(min_length=1, max_length=64)]
ContextValue = Annotated[StrictStr, StringConstraints(max_length=256)] | StrictInt | StrictFloat
# Pipeline variants a request may ask for (the experiment arms); the app registers one pipeline each.
Variant = Literal["baseline", "recgpt-v1", "recgpt-v2"]
VARIANTS: tuple[Variant, ...] = ("baseline", "recgpt-v1", "recgpt-v2")
# Whether the recgpt-v1 answer used the user's LLM profile: found, found but an agent's non-LLM fallback
# made it (its tags are the user's frequent categories, not the LLM's), not there yet (queued), Redis failed.
ProfileState = Literal["hit", "fallback", "miss", "unavailable"]


class RecommendRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    user_id: UserId
    # An integer as JSON Schema defines one, 85.0 included. The bounds go before the validator: after it,
    # pydantic would publish them as unknown keywords instead of minimum and maximum.
    n: Annotated[StrictInt, Field(ge=1, le=MAX_ITEMS), BeforeValidator(whole_float_as_int)] = 10
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
    # What the answer was made without; empty for a full answer. Each name is one of:
    #   redis                    the gateway could not read the user's history: no content route, and
    #                            items the user has seen may be on the page
    #   redis.behaviour          retrieval could not read the user's history: popular items stand in for
    #                            the collaborative route
    #   redis.profile            recgpt-v1: the LLM profile could not be read: the baseline answered
    #   retrieval.collaborative, retrieval.content, retrieval.tag   that route failed or was too late
    #   retrieval                retrieval could not be reached: the items are the gateway's last-resort
    #                            page of popular items
    #   explain                  recgpt-v1: no explanations
    #   deadline                 the request ran out of time: the items are the last-resort page
    #   redis.preferences        RecBot: the user's feed preferences could not be read: not applied
    #   retrieval.tools          RecBot: the preferences could not be applied (retrieval failed or late)
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
    # Requests get items, perhaps degraded: retrieval serves or the last-resort page stands in for it.
    ready: bool
    # Dependency name -> "ok", or why it is not usable: timeout, unreachable, not_serving or error.
    checks: dict[str, str]
    # The dependencies that are down (answers go without them).
    failed: list[str]
    # The gateway is stopping: it still answers requests for a few seconds, but takes no new ones after.
    draining: bool = False
