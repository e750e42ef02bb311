"""The queue of users whose profile the near-line worker should refresh: a Redis stream and a consumer group.

Why a stream rather than a list with a processing list and a reaper: the group's pending-entries list already
records, for each entry a worker took and has not acknowledged, who holds it, since when and how often it was
delivered. A worker killed in the middle of a batch therefore loses nothing (its entries stay pending and are
claimed again once their lease lapses), the delivery count is the attempt count, and no reaper has to keep
timestamps of its own.

Keys, all under `{prefix}:refresh-queue:{<method>}` (the method is the Redis Cluster hash tag, so that each
script's keys share a slot), and written by nothing but this module:
- `:stream`         one entry per queued user (field `user`); an acknowledged entry is deleted, so XLEN is
                    the depth (waiting, being refreshed, or waiting for a retry).
- `:queued:{user}`  the dedup marker: the entry id while the user is queued, `failed` during the cool-down
                    after a dead letter; always with a TTL, so no marker outlives a lost entry for long.
- `:failed`         the dead letters (user, reason, attempts), capped at `RetryPolicy.dead_letters_max`.

Every write that touches two keys is one Lua script, so a timeout or a dropped connection leaves either all of
it or none of it; every call is bounded by `timeout_s`, so nothing waits forever on a Redis that stopped
answering.
"""

from __future__ import annotations

import asyncio
import enum
from dataclasses import dataclass, field
from typing import Any, cast

import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from recgpt_domain.profile_store import METHOD_V1

GROUP = "nearline"
FAILED_MARK = "failed"
# Pending entries looked at per reclaim, oldest first. Entries waiting out a backoff ahead of due ones can
# delay those by at most one backoff; they never hide them for good.
RECLAIM_SCAN = 1000
# Reasons stored with a dead letter are cut to this many characters.
REASON_MAX_CHARS = 300

# KEYS: marker, stream. ARGV: user, max depth, marker TTL (ms), failed mark.
_ENQUEUE = """
local mark = redis.call('GET', KEYS[1])
if mark then
  if mark == ARGV[4] then return 'recently_failed' end
  return 'already_queued'
end
if redis.call('XLEN', KEYS[2]) >= tonumber(ARGV[2]) then return 'queue_full' end
local id = redis.call('XADD', KEYS[2], '*', 'user', ARGV[1])
redis.call('SET', KEYS[1], id, 'PX', ARGV[3])
return 'queued'
"""

# KEYS: stream, marker. ARGV: group, entry id. The marker goes only if it still names this entry: one that
# expired and was set again by a later enqueue belongs to the newer entry.
_ACK = """
local acked = redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
redis.call('XDEL', KEYS[1], ARGV[2])
if redis.call('GET', KEYS[2]) == ARGV[2] then redis.call('DEL', KEYS[2]) end
return acked
"""

# KEYS: stream, marker, dead letters. ARGV: group, entry id, user, reason, attempts, dead letters max,
# cool-down (ms), failed mark. The marker stays as `failed` for the cool-down, so that a user whose refresh
# keeps failing is not queued again by every request in the meantime.
_DEAD_LETTER = """
redis.call('XADD', KEYS[3], 'MAXLEN', ARGV[6], '*', 'user', ARGV[3], 'reason', ARGV[4], 'attempts', ARGV[5])
local acked = redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
redis.call('XDEL', KEYS[1], ARGV[2])
if redis.call('GET', KEYS[2]) == ARGV[2] then
  if tonumber(ARGV[7]) > 0 then
    redis.call('SET', KEYS[2], ARGV[8], 'PX', ARGV[7])
  else
    redis.call('DEL', KEYS[2])
  end
end
return acked
"""

# KEYS: stream. ARGV: group, consumer, entry ids. Resets the idle time of the entries this consumer still
# holds (JUSTID: without counting a delivery); an entry another worker claimed meanwhile is left to it.
_RENEW = """
local renewed = {}
for i = 3, #ARGV do
  local held = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[i], ARGV[i], 1, ARGV[2])
  if #held == 1 then
    redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[i], 'JUSTID')
    table.insert(renewed, ARGV[i])
  end
end
return renewed
"""

# KEYS: stream. ARGV: group, consumer, then (entry id, deliveries to leave, idle ms) per entry. Hands back the
# entries this consumer still holds as if untouched for `idle` (due at once for any worker's reclaim) and
# delivered one time fewer, so that a refresh cut short by a stop does not count as a failed attempt.
_RELEASE = """
local released = 0
for i = 3, #ARGV, 3 do
  local held = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[i], ARGV[i], 1, ARGV[2])
  if #held == 1 then
    redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[i], 'IDLE', ARGV[i + 2],
      'RETRYCOUNT', ARGV[i + 1], 'JUSTID')
    released = released + 1
  end
end
return released
"""

# KEYS: stream. ARGV: group, idle (ms). Forgets consumers that hold nothing and were not heard of for that
# long (workers that stopped). Checked and deleted in one step: deleting a consumer drops what it holds.
_FORGET_CONSUMERS = """
local forgotten = 0
for _, consumer in ipairs(redis.call('XINFO', 'CONSUMERS', KEYS[1], ARGV[1])) do
  local info = {}
  for i = 1, #consumer, 2 do info[consumer[i]] = consumer[i + 1] end
  if info['pending'] == 0 and info['idle'] > tonumber(ARGV[2]) then
    redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], info['name'])
    forgotten = forgotten + 1
  end
end
return forgotten
"""


class EnqueueOutcome(enum.StrEnum):
    QUEUED = "queued"
    ALREADY_QUEUED = "already_queued"
    # Dead-lettered less than the cool-down ago: not queued again yet.
    RECENTLY_FAILED = "recently_failed"
    FULL = "queue_full"


class Settled(enum.StrEnum):
    RETRY = "retried"
    DEAD_LETTER = "dead_lettered"


@dataclass(frozen=True)
class QueueLimits:
    """What the enqueuing side enforces: the bound, and how long a marker may live."""

    max_depth: int = 10_000
    # Longer than an entry waits and retries in the worst case; should a marker expire first, the user can be
    # queued twice, which costs a skipped (already fresh) refresh, not a lost one.
    marker_ttl_s: float = 6 * 3600.0


@dataclass(frozen=True)
class RetryPolicy:
    """What the worker enforces: its lease on the entries it holds, and the retries of a failed user."""

    # An entry untouched for this long is taken from its holder (the holder renews it every third of it).
    lease_s: float = 30.0
    # Deliveries before a user is dead-lettered (a worker that died holding the entry counts as one).
    max_attempts: int = 5
    # Wait before the second attempt, doubled for each one after, capped.
    backoff_s: float = 30.0
    backoff_max_s: float = 900.0
    # A dead-lettered user is not queued again for this long (0: at the next miss).
    failed_cooldown_s: float = 3600.0
    dead_letters_max: int = 10_000
    # Consumers (workers) that hold nothing and were silent this long are forgotten.
    forget_consumers_after_s: float = 3600.0

    def due_after_s(self, attempts: int) -> float:
        """How long an entry delivered `attempts` times must sit untouched before it is taken again.

        Never less than the lease: a holder still working renews its entries, so only an entry idle past the
        lease is surely not being refreshed."""
        backoff = min(self.backoff_max_s, self.backoff_s * 2.0 ** max(attempts - 1, 0))
        return max(self.lease_s, backoff)


DEFAULT_LIMITS = QueueLimits()
DEFAULT_RETRY = RetryPolicy()


@dataclass(frozen=True)
class Entry:
    entry_id: str
    user_id: str
    # Deliveries so far, this one included.
    attempts: int


@dataclass(frozen=True)
class DeadLetter:
    entry_id: str
    user_id: str
    reason: str
    attempts: int


@dataclass
class Reclaimed:
    entries: list[Entry] = field(default_factory=list)
    # Entries whose holders were lost `max_attempts` times: recorded as failed instead of taken again.
    dead: list[DeadLetter] = field(default_factory=list)


class RefreshQueueKeys:
    def __init__(self, prefix: str, method: str) -> None:
        self.base = f"{prefix}:refresh-queue:{{{method}}}"

    def stream(self) -> str:
        return f"{self.base}:stream"

    def marker(self, user_id: str) -> str:
        return f"{self.base}:queued:{user_id}"

    def dead_letters(self) -> str:
        return f"{self.base}:failed"


class RefreshQueue:
    """One method's refresh queue: the gateway enqueues, near-line workers take, acknowledge or fail."""

    def __init__(
        self,
        client: aioredis.Redis,
        prefix: str,
        method: str = METHOD_V1,
        *,
        limits: QueueLimits = DEFAULT_LIMITS,
        retry: RetryPolicy = DEFAULT_RETRY,
        timeout_s: float = 5.0,
    ) -> None:
        self.client = client
        self.method = method
        self.keys = RefreshQueueKeys(prefix, method)
        self.limits = limits
        self.retry = retry
        self.timeout_s = timeout_s
        self._enqueue = client.register_script(_ENQUEUE)
        self._ack = client.register_script(_ACK)
        self._dead_letter = client.register_script(_DEAD_LETTER)
        self._renew = client.register_script(_RENEW)
        self._forget = client.register_script(_FORGET_CONSUMERS)
        self._release = client.register_script(_RELEASE)

    async def enqueue(self, user_id: str) -> EnqueueOutcome:
        """Queues the user unless already queued, recently failed or the queue is full; one round trip."""
        args: list[str | int] = [user_id, self.limits.max_depth, _ms(self.limits.marker_ttl_s), FAILED_MARK]
        async with asyncio.timeout(self.timeout_s):
            outcome = await self._enqueue(keys=[self.keys.marker(user_id), self.keys.stream()], args=args)
        return EnqueueOutcome(_text(outcome))

    async def ensure_group(self) -> None:
        """Creates the workers' group (and the stream) if missing; it starts at 0, so nothing queued before
        the first worker started is skipped."""
        async with asyncio.timeout(self.timeout_s):
            try:
                await self.client.xgroup_create(self.keys.stream(), GROUP, id="0", mkstream=True)
            except ResponseError as error:
                if "BUSYGROUP" not in str(error):
                    raise

    async def take(self, consumer: str, count: int, block_s: float = 0) -> list[Entry]:
        """Up to `count` entries nobody took yet, now held by `consumer`; waits up to `block_s` for one."""
        block_ms = _ms(block_s) if block_s > 0 else None  # BLOCK 0 would wait forever
        async with asyncio.timeout(max(block_s, 0) + self.timeout_s):
            try:
                reply = await self.client.xreadgroup(
                    GROUP, consumer, {self.keys.stream(): ">"}, count=count, block=block_ms
                )
            except ResponseError as error:
                if "NOGROUP" not in str(error):
                    raise
                # No worker ran yet (or the stream was deleted): make the group, then read what is there.
                await self.ensure_group()
                reply = await self.client.xreadgroup(GROUP, consumer, {self.keys.stream(): ">"}, count=count)
        return [entry for entry in (_entry(item, 1) for item in _stream_items(reply)) if entry is not None]

    async def reclaim(self, consumer: str, count: int) -> Reclaimed:
        """Up to `count` entries whose lease or backoff has lapsed, now held by `consumer`.

        Entries a dead worker left and failed entries due for another attempt look alike here: both have sat
        untouched past `RetryPolicy.due_after_s`. An entry already delivered `max_attempts` times is
        dead-lettered instead. Each claim names its own minimum idle time, so two workers reclaiming at once
        never both take an entry."""
        reclaimed = Reclaimed()
        async with asyncio.timeout(self.timeout_s):
            pending = await self.client.xpending_range(
                self.keys.stream(),
                GROUP,
                min="-",
                max="+",
                count=RECLAIM_SCAN,
                idle=_ms(self.retry.lease_s),
            )
        for held in cast(list[dict[str, Any]], pending):
            if len(reclaimed.entries) >= count:
                break
            delivered = int(held["times_delivered"])
            due_ms = _ms(self.retry.due_after_s(delivered))
            if int(held["time_since_delivered"]) < due_ms:
                continue
            entry_id = _text(held["message_id"])
            async with asyncio.timeout(self.timeout_s):
                claimed = await self.client.xclaim(self.keys.stream(), GROUP, consumer, due_ms, [entry_id])
            entries = [_entry(item, delivered + 1) for item in claimed or []]
            entry = entries[0] if entries else None
            if entry is None:
                continue  # another worker took it first, or it was settled meanwhile
            if delivered >= self.retry.max_attempts:
                reason = f"the worker refreshing this user stopped {delivered} times"
                reclaimed.dead.append(await self._record_failed(entry, reason, delivered))
            else:
                reclaimed.entries.append(entry)
        return reclaimed

    async def renew(self, consumer: str, entry_ids: list[str]) -> list[str]:
        """Restarts the lease on the entries `consumer` still holds; returns those (the others were lost)."""
        if not entry_ids:
            return []
        async with asyncio.timeout(self.timeout_s):
            renewed = await self._renew(keys=[self.keys.stream()], args=[GROUP, consumer, *entry_ids])
        return [_text(entry_id) for entry_id in renewed]

    async def release(self, consumer: str, entries: list[Entry]) -> int:
        """Hands back entries `consumer` holds but will not refresh (it is stopping): the next reclaim of any
        worker takes them, without waiting out the lease and without counting this delivery. Returns how
        many it still held."""
        if not entries:
            return 0
        args: list[str | int] = [GROUP, consumer]
        for entry in entries:
            left = entry.attempts - 1
            args += [entry.entry_id, left, _ms(self.retry.due_after_s(left))]
        async with asyncio.timeout(self.timeout_s):
            released = await self._release(keys=[self.keys.stream()], args=args)
        return int(released)

    async def ack(self, entry: Entry) -> None:
        """The user's refresh is done (or was not needed): the entry and its marker go."""
        async with asyncio.timeout(self.timeout_s):
            await self._ack(
                keys=[self.keys.stream(), self.keys.marker(entry.user_id)], args=[GROUP, entry.entry_id]
            )

    async def fail(self, consumer: str, entry: Entry, reason: str) -> Settled:
        """The refresh failed: the entry waits for a retry after its backoff, or is dead-lettered after the
        last attempt."""
        if entry.attempts >= self.retry.max_attempts:
            await self._record_failed(entry, reason, entry.attempts)
            return Settled.DEAD_LETTER
        # The backoff counts from the failure, not from when the entry was taken.
        await self.renew(consumer, [entry.entry_id])
        return Settled.RETRY

    async def _record_failed(self, entry: Entry, reason: str, attempts: int) -> DeadLetter:
        reason = reason[:REASON_MAX_CHARS]
        args: list[str | int] = [
            GROUP,
            entry.entry_id,
            entry.user_id,
            reason,
            attempts,
            self.retry.dead_letters_max,
            round(self.retry.failed_cooldown_s * 1000),  # 0: no cool-down
            FAILED_MARK,
        ]
        keys = [self.keys.stream(), self.keys.marker(entry.user_id), self.keys.dead_letters()]
        async with asyncio.timeout(self.timeout_s):
            await self._dead_letter(keys=keys, args=args)
        return DeadLetter(entry.entry_id, entry.user_id, reason, attempts)

    async def depth(self) -> int:
        """Entries in the queue: waiting, being refreshed, or waiting for a retry."""
        async with asyncio.timeout(self.timeout_s):
            return int(await self.client.xlen(self.keys.stream()))

    async def pending(self) -> int:
        """Entries taken by a worker and not yet settled (being refreshed or waiting for a retry)."""
        async with asyncio.timeout(self.timeout_s):
            try:
                summary = await self.client.xpending(self.keys.stream(), GROUP)
            except ResponseError as error:
                if "NOGROUP" in str(error):
                    return 0
                raise
        return int(summary["pending"])

    async def dead_letters(self, count: int = 100) -> list[DeadLetter]:
        """The most recent dead letters, newest first."""
        async with asyncio.timeout(self.timeout_s):
            rows = await self.client.xrevrange(self.keys.dead_letters(), count=count)
        letters = []
        for entry_id, fields in cast(list[tuple[Any, dict[Any, Any]]], rows):
            values = {_text(k): _text(v) for k, v in fields.items()}
            letters.append(
                DeadLetter(_text(entry_id), values["user"], values["reason"], int(values["attempts"]))
            )
        return letters

    async def forget_idle_consumers(self) -> int:
        """Drops the group's consumers that hold nothing and were silent past the policy's limit."""
        async with asyncio.timeout(self.timeout_s):
            try:
                forgotten = await self._forget(
                    keys=[self.keys.stream()], args=[GROUP, _ms(self.retry.forget_consumers_after_s)]
                )
            except ResponseError as error:
                if "NOGROUP" in str(error) or "no such key" in str(error):
                    return 0
                raise
        return int(forgotten)


def _ms(seconds: float) -> int:
    """Milliseconds for a TTL, block or idle time, which Redis wants positive."""
    return max(1, round(seconds * 1000))


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _stream_items(reply: object) -> list[Any]:
    """The entries of an XREADGROUP reply: RESP2 `[[stream, entries]]`, RESP3 `{stream: [entries]}`."""
    if not reply:
        return []
    if isinstance(reply, dict):
        return [item for batches in reply.values() for batch in batches for item in batch]
    return [item for _, items in cast(list[Any], reply) for item in items]


def _entry(item: Any, attempts: int) -> Entry | None:
    """An entry from a stream reply item `(id, fields)`; None for one deleted meanwhile (no fields)."""
    entry_id, fields = item
    if not fields:
        return None
    values = {_text(k): _text(v) for k, v in fields.items()}
    user_id = values.get("user")
    if not user_id:
        return None
    return Entry(_text(entry_id), user_id, attempts)
