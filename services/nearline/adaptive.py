"""How many users the near-line job refreshes at once: additive increase, multiplicative decrease (AIMD).

An engine given more calls than it finishes within the agents' deadline does not slow down gracefully: every
call in flight times out together, and every profile comes back from the agents' fallback. The limiter looks
for the number the engine keeps up with. It starts at `start`, grows by one after a window's worth of users
(as many as the limit) that the LLM answered while the limit was in use, and halves on congestion. It halves
at most once per window: the users in flight when it halved were started under the old limit, so their
time-outs are the same burst, and neither they nor their answers move it again. It stays within
[1, `maximum`].

Congestion is what the near-line can see of "the engine did not finish in time" (`nearline.job` decides): a
call that ran past its gRPC deadline or was refused for load, and any profile an agent's fallback answered.
The agents know why they fell back (`agent_runner.FallbackReason`), but a V1 answer carries only its
`fallback` flag, so a fallback for another reason (a user without behaviour) counts as congestion too.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from recgpt_serving import metrics

log = logging.getLogger(__name__)


class Signal(enum.StrEnum):
    """What one user's refresh says about the engine; a congestion signal's value is the logged reason."""

    # The LLM answered every part of the profile.
    ANSWERED = "answered"
    FALLBACK = "fallback"
    DEADLINE_EXCEEDED = "deadline_exceeded"
    RESOURCE_EXHAUSTED = "resource_exhausted"
    # Nothing about the engine: a skipped user, a failure of another kind.
    NEUTRAL = "neutral"


CONGESTION = frozenset({Signal.FALLBACK, Signal.DEADLINE_EXCEEDED, Signal.RESOURCE_EXHAUSTED})


@dataclass
class Slot:
    """One user's place among those in flight; set `signal` before the slot ends."""

    # Users started before this one: which window its signal belongs to.
    ticket: int
    # Times the limit had filled up before it started: when the count grows while it runs, the limit held
    # users back, and its answer shows the engine keeps up with the limit.
    fills_before: int
    signal: Signal = Signal.NEUTRAL


class ConcurrencyLimiter:
    """Slots for users in flight, at most `limit` at once; `adaptive=False` keeps the limit at `maximum`."""

    def __init__(self, maximum: int, start: int, *, adaptive: bool = True) -> None:
        if maximum < 1 or start < 1:
            raise ValueError(f"the maximum ({maximum}) and the start ({start}) must be at least 1")
        self.maximum = maximum
        self.adaptive = adaptive
        self._limit = min(start, maximum) if adaptive else maximum
        self.lowest = self._limit
        self._in_flight = 0
        self._started = 0
        self._fills = 0
        # Users with an older ticket were in flight at the last decrease: their signals are ignored.
        self._window_start = 0
        self._answered_run = 0
        # Set (and replaced) whenever a slot ends or the limit grows: waiters look again.
        self._freed = asyncio.Event()
        metrics.NEARLINE_CONCURRENCY_LIMIT.set(self._limit)

    @classmethod
    def fixed(cls, concurrency: int) -> ConcurrencyLimiter:
        return cls(concurrency, concurrency, adaptive=False)

    @property
    def limit(self) -> int:
        return self._limit

    @property
    def in_flight(self) -> int:
        return self._in_flight

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[Slot]:
        """Waits until fewer users than the limit are in flight; the slot's signal counts when it ends."""
        while self._in_flight >= self._limit:
            await self._freed.wait()
        self._in_flight += 1
        slot = Slot(ticket=self._started, fills_before=self._fills)
        self._started += 1
        if self._in_flight >= self._limit:
            self._fills += 1
        try:
            yield slot
        finally:
            self._end(slot)

    def _end(self, slot: Slot) -> None:
        limit_in_use = self._fills > slot.fills_before
        self._in_flight -= 1
        if self.adaptive and slot.ticket >= self._window_start:
            if slot.signal in CONGESTION:
                self._decrease(slot.signal)
            elif slot.signal is Signal.ANSWERED and limit_in_use:
                self._count_answered()
        self._freed.set()
        self._freed = asyncio.Event()

    def _decrease(self, reason: Signal) -> None:
        self._window_start = self._started
        self._answered_run = 0
        if self._limit > 1:
            metrics.NEARLINE_CONCURRENCY_DECREASES.inc()
            self._change(max(1, self._limit // 2), reason.value)

    def _count_answered(self) -> None:
        self._answered_run += 1
        if self._answered_run >= self._limit:
            self._answered_run = 0
            if self._limit < self.maximum:
                self._change(self._limit + 1, Signal.ANSWERED.value)

    def _change(self, limit: int, reason: str) -> None:
        log.info(
            "near-line concurrency limit changed",
            extra={"limit": limit, "previous": self._limit, "reason": reason, "in_flight": self._in_flight},
        )
        self._limit = limit
        self.lowest = min(self.lowest, limit)
        metrics.NEARLINE_CONCURRENCY_LIMIT.set(limit)
