"""Admission control: caps on requests in flight and a queueing deadline, so overload answers a fast 503.

Requests are served from pools, each with its own cap: the fast routes share one, and the feed's command
(which may wait seconds on the LLM) has its own, so that slow commands never hold the slots recommendations
need. A request waits for a slot at most `queue_deadline_s` from when it reached the app; one that cannot
start in time gets 503 with Retry-After instead of a slow answer. Time spent before the app sees a request
(in the event loop's run queue while the CPU is saturated) is measured as the loop's lag: while it exceeds
`overload_lag_s`, new requests are refused at once, since they have already waited that long.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field

from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.middleware import refuse
from recgpt_serving.metrics import GATEWAY_IN_FLIGHT, GATEWAY_LOOP_LAG, GATEWAY_REJECTED


class LoopLag:
    """How late the event loop runs a timer: the wait a request arriving now would see before it starts.

    Smoothed (exponentially, over a few ticks) so that one pause of the loop (a collection, a slow
    start-up step) does not refuse the requests of the next tick, while lasting saturation does.
    """

    def __init__(self, interval_s: float = 0.01, smoothing: float = 0.3) -> None:
        self.interval_s = interval_s
        self.smoothing = smoothing
        self.lag_s = 0.0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._measure(), name="loop-lag")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _measure(self) -> None:
        while True:
            before = time.perf_counter()
            await asyncio.sleep(self.interval_s)
            late = max(0.0, time.perf_counter() - before - self.interval_s)
            self.lag_s += self.smoothing * (late - self.lag_s)
            GATEWAY_LOOP_LAG.set(self.lag_s)


@dataclass
class Pool:
    """Slots for requests in flight; a finishing request hands its slot to the longest waiter."""

    name: str
    max_in_flight: int
    in_flight: int = 0
    waiters: deque[asyncio.Future[None]] = field(default_factory=deque)

    def __post_init__(self) -> None:
        GATEWAY_IN_FLIGHT.labels(self.name).set(0)

    def take(self) -> bool:
        if self.in_flight < self.max_in_flight:
            self.in_flight += 1
            GATEWAY_IN_FLIGHT.labels(self.name).set(self.in_flight)
            return True
        return False

    async def wait(self, left_s: float) -> bool:
        """Waits up to `left_s` for a slot; True once a finishing request handed one over."""
        if left_s <= 0:
            return False
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.waiters.append(waiter)
        try:
            async with asyncio.timeout(left_s):
                await waiter
            return True
        except TimeoutError:
            if waiter.done() and not waiter.cancelled():
                # Handed a slot just as the deadline passed: give it on.
                self.release()
            return False
        finally:
            with contextlib.suppress(ValueError):
                self.waiters.remove(waiter)

    def release(self) -> None:
        """Hands the slot to the longest waiter, else frees it."""
        while self.waiters:
            waiter = self.waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self.in_flight -= 1
        GATEWAY_IN_FLIGHT.labels(self.name).set(self.in_flight)


class AdmissionMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        default: Pool,
        queue_deadline_s: float,
        overload_lag_s: float,
        lag: LoopLag,
        pools: Mapping[str, Pool] | None = None,
        exempt_paths: Collection[str] = (),
    ) -> None:
        self.app = app
        self.default = default
        # By path: routes whose requests are served from a pool of their own.
        self.pools = dict(pools or {})
        self.queue_deadline_s = queue_deadline_s
        self.overload_lag_s = overload_lag_s
        self.lag = lag
        self.exempt_paths = frozenset(exempt_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.exempt_paths:
            await self.app(scope, receive, send)
            return
        arrived = time.perf_counter()
        if self.lag.lag_s > self.overload_lag_s:
            await self._refuse(send, "overloaded", "the gateway is overloaded: retry shortly")
            return
        pool = self.pools.get(scope["path"], self.default)
        if not pool.take():
            left = self.queue_deadline_s - (time.perf_counter() - arrived)
            if not await pool.wait(left):
                detail = "the gateway could not start the request in time: retry"
                await self._refuse(send, "queue_timeout", detail)
                return
        try:
            await self.app(scope, receive, send)
        finally:
            pool.release()

    async def _refuse(self, send: Send, reason: str, detail: str) -> None:
        GATEWAY_REJECTED.labels(reason).inc()
        await refuse(send, 503, detail, headers={"retry-after": "1"})
