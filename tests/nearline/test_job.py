"""The near-line job against an engine that times out whenever it is given more users than it keeps up with:
the adaptive limit settles near that number, and far fewer profiles come from the fallback than at a fixed
concurrency of the maximum."""

from __future__ import annotations

import asyncio

import grpc
import pytest

from nearline.adaptive import ConcurrencyLimiter
from nearline.job import Freshness, NearlineJob, Tally, from_list
from nearline.refresh import Refreshed
from tests.nearline.fake_refreshers import CrowdedEngine, InMemoryProfiles

# The engine keeps up with this many users at once; the job may run up to MAXIMUM.
CAPACITY = 4
MAXIMUM = 16
USERS = 240


class LimitsSeen:
    """The job's progress bar: the limit as each user ended."""

    def __init__(self, limiter: ConcurrencyLimiter) -> None:
        self.limiter = limiter
        self.limits: list[int] = []

    def update(self, n: float | None = 1) -> bool | None:
        self.limits.append(self.limiter.limit)
        return None


FRESHNESS = Freshness("m", "v", 3600, force=True)


async def run(job: NearlineJob, users: int = USERS) -> tuple[Tally, LimitsSeen]:
    seen = LimitsSeen(job.limiter)
    tally = await job.run(from_list([str(u) for u in range(users)], asyncio.Event()), progress=seen)
    return tally, seen


async def test_a_fixed_concurrency_past_the_engine_gets_only_fallbacks() -> None:
    engine = CrowdedEngine(CAPACITY)
    tally, seen = await run(NearlineJob(engine, InMemoryProfiles(), FRESHNESS, MAXIMUM))
    assert engine.peak == MAXIMUM
    assert (tally.done, tally.fallback) == (0, USERS)
    assert set(seen.limits) == {MAXIMUM}


async def test_the_adaptive_limit_settles_near_what_the_engine_keeps_up_with() -> None:
    engine = CrowdedEngine(CAPACITY)
    limiter = ConcurrencyLimiter(MAXIMUM, MAXIMUM)
    tally, seen = await run(NearlineJob(engine, InMemoryProfiles(), FRESHNESS, MAXIMUM, limiter=limiter))

    # From the maximum it halves once per window of time-outs (16, 8, 4), not to 1 at the first burst; then
    # it saws between half of one past the capacity and one past it, where every call times out again.
    assert limiter.lowest == (CAPACITY + 1) // 2
    settled = seen.limits[USERS // 2 :]
    assert (min(settled), max(settled)) == ((CAPACITY + 1) // 2, CAPACITY + 1)
    # A fixed concurrency of the maximum makes every profile a fallback's (above); this, about a third.
    assert tally.done + tally.fallback == USERS
    assert tally.fallback / USERS < 0.5


async def test_a_limit_below_the_engine_grows_by_one_per_window_up_to_it() -> None:
    engine = CrowdedEngine(CAPACITY)
    limiter = ConcurrencyLimiter(MAXIMUM, 1)
    tally, seen = await run(NearlineJob(engine, InMemoryProfiles(), FRESHNESS, MAXIMUM, limiter=limiter), 10)
    # One answer takes 1 to 2, two more 2 to 3, three more 3 to 4, four more 4 to 5: past the capacity.
    assert seen.limits == [2, 2, 3, 3, 3, 4, 4, 4, 4, 5]
    assert (tally.done, tally.fallback) == (10, 0)
    assert engine.peak == CAPACITY


class FailingEngine:
    """Every call fails with `code`."""

    def __init__(self, code: grpc.StatusCode) -> None:
        self.code = code

    async def refresh(self, user_id: str) -> Refreshed:
        await asyncio.sleep(0)
        raise grpc.aio.AioRpcError(self.code, grpc.aio.Metadata(), grpc.aio.Metadata(), details="failed")


@pytest.mark.parametrize(
    ("code", "limit_after"),
    [
        (grpc.StatusCode.DEADLINE_EXCEEDED, 4),
        (grpc.StatusCode.RESOURCE_EXHAUSTED, 4),
        (grpc.StatusCode.UNAVAILABLE, 8),
        (grpc.StatusCode.INVALID_ARGUMENT, 8),
    ],
)
async def test_a_failure_halves_the_limit_only_when_it_says_the_engine_is_overloaded(
    code: grpc.StatusCode, limit_after: int
) -> None:
    limiter = ConcurrencyLimiter(MAXIMUM, 8)
    job = NearlineJob(FailingEngine(code), InMemoryProfiles(), FRESHNESS, MAXIMUM, limiter=limiter)
    tally, _ = await run(job, 8)
    assert tally.failed == 8
    assert limiter.limit == limit_after


def test_the_limiter_must_be_bounded_by_the_jobs_concurrency() -> None:
    with pytest.raises(ValueError):
        NearlineJob(CrowdedEngine(1), InMemoryProfiles(), FRESHNESS, 8, limiter=ConcurrencyLimiter(16, 4))
