"""User events (impression, click, page_view, add_to_cart, purchase) in a Redis stream, each id once.

Keys under `{prefix}:{experiments}:` (one hash tag, so that the script's keys share a Redis Cluster slot),
written by nothing but this module:
- `events`          the stream: one entry per accepted event, with the user's arms and the config revision
- `event-id:<id>`   the dedup marker of a client event id, with a TTL of `dedup_ttl_s`

A batch is one Lua script: every valid event is checked against its marker and appended in the same atomic
step, so a batch is stored whole or not at all, and a retried batch (after a timeout, say) stores nothing
twice.
The stream keeps `EVENT_RETENTION_S` (90 days by default): `trim_before` drops older entries with
`XTRIM MINID ~`, run hourly by the gateway (`Experiments`), not by each write (see `trim_before`).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Annotated, Literal

import redis.asyncio as aioredis
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictFloat,
    StrictInt,
    StrictStr,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    model_validator,
)
from pydantic_core import ErrorDetails

from experiments.streams import iter_stream
from recgpt_domain.json_types import whole_float_as_int

# At most this many events a batch; the body must also stay under the gateway's body limit (64 KB by default).
MAX_BATCH = 200
# Events older than this leave the stream; a report of an experiment that ran longer no longer sees them.
EVENT_RETENTION_S = 90 * 86_400.0
# Entries one XTRIM call may drop, and calls per trim: bounds how long one call holds Redis (about a
# millisecond per 10,000 entries); a backlog larger than one trim's share goes at the next one.
TRIM_LIMIT = 10_000
TRIM_CALLS = 100
EventType = Literal["impression", "click", "page_view", "add_to_cart", "purchase"]
EVENT_TYPES: tuple[EventType, ...] = ("impression", "click", "page_view", "add_to_cart", "purchase")
# Printable ASCII without spaces, as user ids everywhere (they travel in gRPC metadata).
Token = Annotated[StrictStr, StringConstraints(min_length=1, max_length=128, pattern=r"^[!-~]+$")]
# The last millisecond of the year 9999: a client clock beyond it is not a clock.
MAX_TS_MS = 253_402_300_799_999


# Strict (no "3" for 3, no true for 1) but for whole floats; the bounds go before the validator, where
# pydantic publishes them as minimum and maximum.
ClientTime = Annotated[StrictInt, Field(ge=0, le=MAX_TS_MS), BeforeValidator(whole_float_as_int)]
Quantity = Annotated[StrictInt, Field(ge=1, le=1000), BeforeValidator(whole_float_as_int)]
Price = Annotated[StrictFloat, Field(ge=0, le=1e7)]

# KEYS: stream, then each event's marker. ARGV: ttl ms, then per event: its field count and fields.
# Every key is named in KEYS (none built in the script), as Redis Cluster requires.
_STORE = """
local ttl = ARGV[1]
local out = {}
local i = 2
local event = 1
while i <= #ARGV do
  local n = tonumber(ARGV[i])
  local fields = {}
  for j = 1, n do fields[j] = ARGV[i + j] end
  event = event + 1
  if redis.call('SET', KEYS[event], '1', 'NX', 'PX', ttl) then
    redis.call('XADD', KEYS[1], '*', unpack(fields))
    out[#out + 1] = 1
  else
    out[#out + 1] = 0
  end
  i = i + 1 + n
end
return out
"""


class _EventFields(BaseModel):
    """What every kind of event carries."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    event_id: Token
    user_id: Token
    item_id: Token
    # The recommendation response the event follows, when the client knows it.
    request_id: Token | None = None
    # Client time in milliseconds since the epoch; the server's time orders the stream.
    ts_ms: ClientTime | None = None
    quantity: Quantity = 1


class ImpressionEvent(_EventFields):
    type: Literal["impression"]


class ClickEvent(_EventFields):
    type: Literal["click"]


class PageViewEvent(_EventFields):
    type: Literal["page_view"]


class AddToCartEvent(_EventFields):
    type: Literal["add_to_cart"]


class PurchaseEvent(_EventFields):
    type: Literal["purchase"]
    # The amount paid, in the shop's currency.
    price: Price


# What a client sends, one kind per `type`: the gateway validates each event of a batch with this alone and
# publishes its schema, so that what the schema allows is exactly what is stored.
AnyClientEvent = ImpressionEvent | ClickEvent | PageViewEvent | AddToCartEvent | PurchaseEvent
ClientEvent = Annotated[AnyClientEvent, Field(discriminator="type")]
CLIENT_EVENT: TypeAdapter[AnyClientEvent] = TypeAdapter(ClientEvent)


class Event(_EventFields):
    """An accepted event of any kind, as the store writes it."""

    type: EventType
    # Purchases only.
    price: Price | None = None

    @model_validator(mode="after")
    def _price_for_purchases(self) -> Event:
        if (self.type == "purchase") != (self.price is not None):
            raise ValueError("price is required for a purchase and not allowed for other events")
        return self


@dataclass(frozen=True)
class Rejected:
    index: int
    event_id: str | None
    reason: str


def parse_batch(raw_events: Sequence[object]) -> tuple[list[tuple[int, Event]], list[Rejected]]:
    """Valid events with their index in the batch, and the reasons of the others."""
    valid: list[tuple[int, Event]] = []
    rejected: list[Rejected] = []
    for index, raw in enumerate(raw_events):
        try:
            kind = CLIENT_EVENT.validate_python(raw)
        except ValidationError as error:
            event_id = raw.get("event_id") if isinstance(raw, dict) else None
            reason = _reason(error.errors()[0])
            rejected.append(Rejected(index, event_id if isinstance(event_id, str) else None, reason))
            continue
        valid.append((index, Event(**kind.model_dump())))
    return valid, rejected


def _reason(problem: ErrorDetails) -> str:
    """The first problem of an event, named by its field (not by the kind the union tried)."""
    if problem["type"] in ("union_tag_not_found", "union_tag_invalid"):
        return f"type: must be one of {', '.join(EVENT_TYPES)}"
    loc = problem["loc"][1:]  # the first part is the kind, from `type`
    if loc == ("price",) and problem["type"] in ("missing", "extra_forbidden"):
        return "price: price is required for a purchase and not allowed for other events"
    where = ".".join(str(part) for part in loc) or "event"
    return f"{where}: {problem['msg']}"


class EventStore:
    def __init__(self, client: aioredis.Redis, prefix: str, dedup_ttl_s: float) -> None:
        self.client = client
        self.stream = stream_key(prefix)
        self.marker_prefix = f"{prefix}:{{experiments}}:event-id:"
        self.ttl_ms = int(dedup_ttl_s * 1000)
        self._store = client.register_script(_STORE)

    async def store(self, events: list[tuple[Event, str]], revision: int) -> list[bool]:
        """Appends each (event, arms label) not seen before; True where stored, False for a duplicate."""
        if not events:
            return []
        now_ms = int(time.time() * 1000)
        args: list[str | int | float] = [self.ttl_ms]
        for event, arms in events:
            fields = _fields(event, arms, revision, now_ms)
            args += [len(fields), *fields]
        markers = [self.marker_prefix + event.event_id for event, _ in events]
        flags = await self._store(keys=[self.stream, *markers], args=args)
        return [bool(flag) for flag in flags]

    async def trim_before(self, bound_ms: int) -> int:
        """Drops the events stored before `bound_ms` (the server's time, ms since the epoch); how many went.

        `XTRIM MINID ~` in calls of at most `TRIM_LIMIT` entries: the `~` lets Redis drop whole nodes of
        the stream only (cheap, and no entry newer than the bound ever goes; up to a node's worth, 100
        entries, of older ones may stay until the next trim). Run periodically rather than with every
        write: the write path stays one script, and a trim an hour costs one call per gateway (trims are
        idempotent, so replicas running it at once do no harm). The ids are the server's time of each
        write, so the bound is an id."""
        min_id = f"{max(0, bound_ms)}-0"
        dropped = 0
        for _ in range(TRIM_CALLS):
            went = int(await self.client.xtrim(self.stream, minid=min_id, approximate=True, limit=TRIM_LIMIT))
            dropped += went
            if went == 0:
                break
        return dropped


def _fields(event: Event, arms: str, revision: int, now_ms: int) -> list[str | int | float]:
    fields: list[str | int | float] = [
        "id", event.event_id, "type", event.type, "user", event.user_id, "item", event.item_id,
        "ts", now_ms, "arms", arms, "rev", revision, "qty", event.quantity,
    ]  # fmt: skip
    if event.ts_ms is not None:
        fields += ["client_ts", event.ts_ms]
    if event.price is not None:
        fields += ["price", event.price]
    if event.request_id is not None:
        fields += ["request", event.request_id]
    return fields


def stream_key(prefix: str) -> str:
    """The events stream, owned by `EventStore`."""
    return f"{prefix}:{{experiments}}:events"


def iter_events(client: aioredis.Redis, prefix: str) -> AsyncIterator[dict[str, str]]:
    """Every stored event, oldest first, as its stream fields."""
    return iter_stream(client, stream_key(prefix))
