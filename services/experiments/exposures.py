"""Exposures: one record per recommendation response, buffered in the process and written in batches.

The request path only appends to a bounded in-memory buffer (no Redis round trip); a background task
writes the buffer to the stream `{prefix}:{experiments}:exposures` every `flush_s` with one pipelined call.
When Redis is down the buffer keeps the newest `max_buffer` records and counts what it dropped, so a long
outage costs exposures, never memory or latency. Guardrails (latency, errors, fallbacks per arm) are read
from here.

Records are numbered as they come, and a write removes exactly the numbers it wrote: records that arrive
while a batch is being written may evict part of that batch from a full buffer, and what is left after the
write is theirs. A record evicted while its batch was in flight is lost only if that write fails; every
record that leaves the buffer unwritten is counted once, as `dropped`.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from experiments.streams import iter_stream
from recgpt_serving.metrics import EXPOSURE_WRITES

log = logging.getLogger(__name__)

# The stream keeps about this many exposures (trimmed approximately, which Redis does cheaply).
STREAM_MAX_LEN = 2_000_000
# At most this many exposures per call, so that one script never holds Redis for long.
FLUSH_MAX = 5_000

# KEYS: stream. ARGV: max length, then one packed exposure each. One call for the whole batch: redis-py
# spends about 100 µs of Python per pipelined command, the script a few µs of Redis per entry.
_APPEND = """
for i = 2, #ARGV do
  redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'e', ARGV[i])
end
return #ARGV - 1
"""


@dataclass(frozen=True, slots=True)
class Exposure:
    user_id: str
    request_id: str
    arms: str
    revision: int
    variant: str
    status: int
    latency_ms: float
    # The answer was degraded or came from a fallback (profile fallback or miss, last-resort page).
    fallback: bool
    # The request named its variant itself: left out of reports, which compare what assignment chose.
    override: bool
    holdout: bool
    forced: bool

    def pack(self, now_ms: int) -> str:
        """One tab-separated field: an XADD of one field costs a fifth of one with twelve (redis-py encodes
        each argument in Python). Ids, arms and variants never hold a tab (their patterns forbid spaces)."""
        return "\t".join(
            (
                self.user_id,
                self.request_id,
                self.arms,
                str(self.revision),
                self.variant,
                str(self.status),
                f"{self.latency_ms:.3f}",
                f"{int(self.fallback)}{int(self.override)}{int(self.holdout)}{int(self.forced)}",
                str(now_ms),
            )
        )


FIELDS = ("user", "request", "arms", "rev", "variant", "status", "latency_ms", "flags", "ts")


def unpack(packed: str) -> dict[str, str]:
    """The named fields of a packed exposure; `flags` also as fallback, override, holdout and forced."""
    record = dict(zip(FIELDS, packed.split("\t"), strict=True))
    for name, flag in zip(("fallback", "override", "holdout", "forced"), record["flags"], strict=True):
        record[name] = flag
    return record


class ExposureLog:
    def __init__(
        self, client: aioredis.Redis, prefix: str, flush_s: float, max_buffer: int, timeout_s: float
    ) -> None:
        self.client = client
        self.stream = stream_key(prefix)
        self.flush_s = flush_s
        self.timeout_s = timeout_s
        # (number, time ms, exposure), oldest first.
        self.buffer: deque[tuple[int, int, Exposure]] = deque(maxlen=max_buffer)
        self._append = client.register_script(_APPEND)
        self._task: asyncio.Task[None] | None = None
        # One flush at a time: two would write the same records twice.
        self._flushing = asyncio.Lock()
        self._stopped = False
        self._next_number = 0
        # The last number of the batch being written (-1: none), and how many of it were evicted meanwhile.
        self._in_flight_through = -1
        self._evicted_in_flight = 0

    def record(self, exposure: Exposure) -> None:
        if len(self.buffer) == self.buffer.maxlen:
            if self.buffer[0][0] <= self._in_flight_through:
                self._evicted_in_flight += 1  # written after all if the write in flight succeeds
            else:
                EXPOSURE_WRITES.labels("dropped").inc()
        self.buffer.append((self._next_number, int(time.time() * 1000), exposure))
        self._next_number += 1

    async def flush(self) -> int:
        """Writes what is buffered; on failure the records stay buffered for the next try."""
        async with self._flushing:
            return await self._flush()

    async def _flush(self) -> int:
        if not self.buffer:
            return 0
        batch = list(itertools.islice(self.buffer, FLUSH_MAX))
        packed = [exposure.pack(now_ms) for _, now_ms, exposure in batch]
        through = self._in_flight_through = batch[-1][0]
        self._evicted_in_flight = 0
        written = False
        try:
            async with asyncio.timeout(self.timeout_s):
                await self._append(keys=[self.stream], args=[STREAM_MAX_LEN, *packed])
            written = True
        except (RedisError, TimeoutError, OSError) as error:
            log.warning("exposures: write failed, kept buffered", extra={"error": repr(error)})
            return 0
        finally:
            self._in_flight_through = -1
            if not written and self._evicted_in_flight:
                # Evicted while being written, and the write failed (or was cancelled): lost.
                EXPOSURE_WRITES.labels("dropped").inc(self._evicted_in_flight)
        # Only what this batch wrote: records evicted meanwhile are gone already, newer ones stay.
        while self.buffer and self.buffer[0][0] <= through:
            self.buffer.popleft()
        EXPOSURE_WRITES.labels("written").inc(len(batch))
        return len(batch)

    def start(self) -> None:
        self._task = asyncio.create_task(self._follow(), name="experiments-exposure-flush")

    async def _follow(self) -> None:
        # The flag as well as the cancel: a cancel that lands as the write's timeout fires can surface as a
        # TimeoutError (Python 3.11), which `flush` takes for a slow Redis.
        while not self._stopped:
            await asyncio.sleep(self.flush_s)
            await self.flush()

    async def close(self) -> None:
        """Stops the background writer, then writes what is left (each try bounded by `timeout_s`)."""
        self._stopped = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(self._task, timeout=self.timeout_s * 2)
        while self.buffer and await self.flush():
            pass


def stream_key(prefix: str) -> str:
    """The exposures stream, owned by `ExposureLog`."""
    return f"{prefix}:{{experiments}}:exposures"


def iter_exposures(client: aioredis.Redis, prefix: str) -> AsyncIterator[dict[str, str]]:
    """Every stored exposure, oldest first, packed (`unpack` reads one)."""
    return iter_stream(client, stream_key(prefix))
