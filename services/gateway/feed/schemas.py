"""The HTTP contract of the feed: strict, so that bad input is a 422 with the reason."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictInt, StrictStr, StringConstraints

from gateway.schemas import MAX_ITEMS, RecommendedItem, UserId
from recgpt_domain.json_types import whole_float_as_int
from recgpt_domain.preferences import Preferences

MAX_COMMAND_CHARS = 500
MAX_FEED_ITEMS = 100
# One character that is not whitespace in Python's sense (what `str.strip` removes), spelled out so that a
# reader of the schema with ASCII `\s` (schemathesis, many validators) means the same as one with Unicode's.
NOT_BLANK = r"[^\s\x1c-\x1f\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"


def _not_blank(value: object) -> object:
    if isinstance(value, str) and not value.strip():
        raise ValueError("the command is empty")
    return value.strip() if isinstance(value, str) else value


ItemId = Annotated[StrictStr, StringConstraints(min_length=1, max_length=128)]


class FeedCommandRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # The user whose preferences change: only ever this one, whatever the text says.
    user_id: UserId
    # At least one non-blank character (a blank one is refused with its own reason).
    text: Annotated[
        StrictStr,
        # The constraints come first so that the published schema carries the pattern (placed after
        # a before-validator, pydantic enforces it but leaves it out of the schema); the blank check
        # still runs first.
        StringConstraints(min_length=1, max_length=MAX_COMMAND_CHARS, pattern=NOT_BLANK),
        BeforeValidator(_not_blank),
    ]
    # The page the user is looking at, in order: "the third one" refers to it.
    feed_item_ids: Annotated[list[ItemId], Field(max_length=MAX_FEED_ITEMS)] = Field(default_factory=list)
    # An integer as JSON Schema defines one (10.0 included), as /v1/recommend takes it.
    n: Annotated[StrictInt, Field(ge=1, le=MAX_ITEMS), BeforeValidator(whole_float_as_int)] = 10


class Part(BaseModel):
    span: str
    kind: str
    source: str
    polarity: str
    value: str
    resolution: str
    note: str = ""


class PlannedTool(BaseModel):
    tool: str
    arguments: dict[str, str]
    seconds: float


class Timings(BaseModel):
    """Where the command's time went, in seconds (the parser's rules and LLM wait are within `parse`)."""

    read: float = 0.0
    parse: float = 0.0
    parse_rules: float = 0.0
    parse_llm: float = 0.0
    store: float = 0.0
    plan: float = 0.0
    total: float = 0.0


class FeedCommandResponse(BaseModel):
    request_id: str
    user_id: str
    preferences: Preferences
    version: int
    parts: list[Part]
    # "not_needed" when the rules resolved the whole command; else what the LLM call came to.
    llm_status: str
    # The LLM was needed and the rules answered alone.
    fallback: bool
    plan: list[PlannedTool]
    items: list[RecommendedItem]
    # Items that satisfy the hard constraints in force (before the seen ones are left out).
    allowed_items: int
    degraded: list[str]
    timings: Timings


class PreferencesResponse(BaseModel):
    request_id: str
    user_id: str
    preferences: Preferences
    version: int
    updated_at_unix: float
