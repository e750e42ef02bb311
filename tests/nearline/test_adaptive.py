"""The near-line concurrency limiter alone: one more after a window of answers, half on congestion (once per
window), never outside [1, maximum], and no user started while the limit is reached."""

from __future__ import annotations

import asyncio
import logging
from contextlib import AbstractAsyncContextManager

import pytest
from prometheus_client import REGISTRY

from nearline.adaptive import ConcurrencyLimiter, Signal, Slot

ANSWERED, FALLBACK, NEUTRAL = Signal.ANSWERED, Signal.FALLBACK, Signal.NEUTRAL


def decreases() -> float:
    return REGISTRY.get_sample_value("recgpt_nearline_concurrency_decreases_total") or 0.0


def limit_gauge() -> float | None:
    return REGISTRY.get_sample_value("recgpt_nearline_concurrency_limit")


class User:
    """A user in flight in one of the limiter's slots, ended when the test says."""

    def __init__(self, limiter: ConcurrencyLimiter) -> None:
        self._slot: AbstractAsyncContextManager[Slot] = limiter.slot()

    async def start(self) -> User:
        self.slot = await self._slot.__aenter__()
        return self

    async def end(self, signal: Signal) -> None:
        self.slot.signal = signal
        await self._slot.__aexit__(None, None, None)


async def started(limiter: ConcurrencyLimiter, users: int) -> list[User]:
    return [await User(limiter).start() for _ in range(users)]


async def window(limiter: ConcurrencyLimiter, *signals: Signal) -> None:
    """As many users as `signals` started together, then ended in order with those signals."""
    for user, signal in zip(await started(limiter, len(signals)), signals, strict=True):
        await user.end(signal)


async def test_the_limit_grows_by_one_after_a_window_of_answers() -> None:
    limiter = ConcurrencyLimiter(8, 2)
    assert (limiter.limit, limit_gauge()) == (2, 2)

    await window(limiter, ANSWERED, ANSWERED)
    assert (limiter.limit, limit_gauge()) == (3, 3)
    # One answer short of a window of three: no growth yet; the third answer completes it.
    await window(limiter, ANSWERED, ANSWERED, NEUTRAL)
    assert limiter.limit == 3
    await window(limiter, ANSWERED)
    assert limiter.limit == 3
    await window(limiter, ANSWERED, ANSWERED, ANSWERED)
    assert limiter.limit == 4


async def test_answers_count_only_while_the_limit_holds_users_back() -> None:
    limiter = ConcurrencyLimiter(8, 4)
    # One user at a time never fills the limit of 4: the engine was not asked for 4 at once.
    for _ in range(20):
        await window(limiter, ANSWERED)
    assert limiter.limit == 4


async def test_a_burst_of_congestion_halves_the_limit_once_per_window(
    caplog: pytest.LogCaptureFixture,
) -> None:
    limiter = ConcurrencyLimiter(16, 16)
    before = decreases()
    with caplog.at_level(logging.INFO, logger="nearline.adaptive"):
        # Every user of a full window falls back together: one halving, not four (16 -> 1).
        await window(limiter, *[FALLBACK] * 16)
    assert (limiter.limit, limiter.lowest, limit_gauge()) == (8, 8, 8)
    assert decreases() == before + 1
    changes = [
        (record.__dict__["limit"], record.__dict__["previous"], record.__dict__["reason"])
        for record in caplog.records
        if record.getMessage() == "near-line concurrency limit changed"
    ]
    assert changes == [(8, 16, "fallback")]

    # Users started after the decrease are the next window: their congestion halves it again.
    await window(limiter, Signal.DEADLINE_EXCEEDED, Signal.RESOURCE_EXHAUSTED)
    assert (limiter.limit, limiter.lowest) == (4, 4)
    assert decreases() == before + 2


async def test_users_in_flight_at_a_decrease_neither_shrink_nor_grow_the_limit() -> None:
    limiter = ConcurrencyLimiter(8, 8)
    old = await started(limiter, 8)
    await old[0].end(FALLBACK)
    assert limiter.limit == 4
    # The rest of the old window ends after the halving: its time-outs are the same burst, and its answers
    # were given at the old limit.
    for user in old[1:4]:
        await user.end(Signal.DEADLINE_EXCEEDED)
    for user in old[4:]:
        await user.end(ANSWERED)
    assert (limiter.limit, limiter.lowest) == (4, 4)


async def test_the_limit_stays_between_one_and_the_maximum() -> None:
    assert ConcurrencyLimiter(4, 10).limit == 4
    with pytest.raises(ValueError):
        ConcurrencyLimiter(0, 1)
    with pytest.raises(ValueError):
        ConcurrencyLimiter(4, 0)

    at_most = ConcurrencyLimiter(3, 2)
    for _ in range(5):
        await window(at_most, *[ANSWERED] * at_most.limit)
    assert at_most.limit == 3

    at_least = ConcurrencyLimiter(8, 2)
    before = decreases()
    for _ in range(3):
        await window(at_least, FALLBACK)
    assert (at_least.limit, at_least.lowest) == (1, 1)
    # Halved once (2 -> 1); at 1 there is nothing left to halve, nor to count.
    assert decreases() == before + 1


async def test_a_fixed_limit_never_moves() -> None:
    limiter = ConcurrencyLimiter.fixed(4)
    await window(limiter, *[FALLBACK] * 4)
    await window(limiter, *[ANSWERED] * 4)
    assert (limiter.limit, limiter.lowest) == (4, 4)


async def test_a_user_starts_only_once_fewer_than_the_limit_are_in_flight() -> None:
    limiter = ConcurrencyLimiter(8, 4)
    order: list[str] = []

    async def next_user() -> None:
        user = await User(limiter).start()
        order.append("next user started")
        await user.end(NEUTRAL)

    in_flight = await started(limiter, 4)
    # Halved to 2 while 3 are still in flight: the next user waits for two of them to end.
    await in_flight[0].end(FALLBACK)
    waiting = asyncio.create_task(next_user())
    await asyncio.sleep(0)  # its first step, in which it finds no free slot
    for user in in_flight[1:3]:
        order.append("a user ended")
        await user.end(NEUTRAL)
        await asyncio.sleep(0)
    await asyncio.wait_for(waiting, 5)
    assert order == ["a user ended", "a user ended", "next user started"]
    assert limiter.in_flight == 1
    await in_flight[3].end(NEUTRAL)
