"""Runs refreshes for many users at once: workers pull users from a bounded queue, one user each.

A user's failure is logged and counted, never fatal to the run. A user whose stored profile is fresh (same
model, same prompt versions, younger than the refresh period) is skipped, so a rerun resumes where a
stopped one left off. A profile that an agent's fallback answered is stored but counted apart ("fallback",
not "done"): it is not what the LLM made, and it goes stale within hours.

How many users run at once is the limiter's (`nearline.adaptive`): each user's outcome tells it whether the
engine kept up.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import time
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from typing import Protocol

import grpc

from nearline.adaptive import ConcurrencyLimiter, Signal, Slot
from nearline.refresh import Refreshed
from recgpt_domain.profile_store import FALLBACK_PROFILE_TTL_S, METHOD_V1, UserProfile
from recgpt_serving import context, metrics
from recgpt_serving.llm.usage import Usage

log = logging.getLogger(__name__)


class Outcome(enum.StrEnum):
    # The LLM answered every part of the profile.
    DONE = "done"
    # Stored, but an agent's non-LLM fallback answered its interests or tags.
    FALLBACK = "fallback"
    SKIPPED = "skipped"
    FAILED = "failed"


# Failures that say the engine (or a service in front of it) is overloaded, not that this user is broken.
_CONGESTED_CODES = {
    grpc.StatusCode.DEADLINE_EXCEEDED: Signal.DEADLINE_EXCEEDED,
    grpc.StatusCode.RESOURCE_EXHAUSTED: Signal.RESOURCE_EXHAUSTED,
}


class Progress(Protocol):
    def update(self, n: float | None = 1) -> bool | None: ...


class Refresher(Protocol):
    """`nearline.refresh.ProfileRefresher` and its V2 and reasoned kinds."""

    async def refresh(self, user_id: str) -> Refreshed: ...


class Profiles(Protocol):
    """`recgpt_domain.profile_store.ProfileStore`: the job reads and writes nothing else."""

    async def get(self, user_id: str, method: str = METHOD_V1) -> UserProfile | None: ...

    async def put(self, profile: UserProfile) -> None: ...


@dataclass(frozen=True)
class Freshness:
    """What a stored profile must match to be kept; `force` refreshes every user regardless."""

    model: str
    prompt_version: str
    max_age_s: float
    # A profile from fallback answers is kept only this long.
    fallback_max_age_s: float = FALLBACK_PROFILE_TTL_S
    force: bool = False
    # Whose profiles: a V2 job's fresh profile is a V2 one.
    method: str = METHOD_V1


@dataclass
class Tally:
    done: int = 0
    fallback: int = 0
    skipped: int = 0
    failed: int = 0
    explanations: int = 0
    # Refreshed users some of whose explanations the explain service wrote from its template.
    explanation_fallbacks: int = 0
    usage: Usage = field(default_factory=Usage)

    def count(self, outcome: Outcome) -> None:
        setattr(self, outcome.value, getattr(self, outcome.value) + 1)


class NearlineJob:
    def __init__(
        self,
        refresher: Refresher,
        profiles: Profiles,
        freshness: Freshness,
        concurrency: int,
        limiter: ConcurrencyLimiter | None = None,
    ) -> None:
        """`concurrency`: the most users at once; `limiter` (None: fixed at `concurrency`) decides how many
        of them run now, and its maximum must be `concurrency`."""
        if limiter is not None and limiter.maximum != concurrency:
            raise ValueError(f"the limiter's maximum ({limiter.maximum}) is not the job's ({concurrency})")
        self.refresher = refresher
        self.profiles = profiles
        self.freshness = freshness
        self.concurrency = concurrency
        self.limiter = limiter or ConcurrencyLimiter.fixed(concurrency)

    async def run(
        self,
        users: AsyncIterator[str],
        progress: Progress | None = None,
        stop: asyncio.Event | None = None,
    ) -> Tally:
        """Handles the users `users` yields; once `stop` is set no new user starts (those in flight end)."""
        tally = Tally()
        queue: asyncio.Queue[str | None] = asyncio.Queue(maxsize=self.concurrency)
        halted = stop or asyncio.Event()
        workers = [
            asyncio.create_task(self._work(queue, tally, progress, halted)) for _ in range(self.concurrency)
        ]
        try:
            async for user_id in users:
                await queue.put(user_id)
        finally:
            for _ in workers:
                await queue.put(None)
            await asyncio.gather(*workers)
        return tally

    async def _work(
        self,
        queue: asyncio.Queue[str | None],
        tally: Tally,
        progress: Progress | None,
        stop: asyncio.Event,
    ) -> None:
        while (user_id := await queue.get()) is not None:
            async with self.limiter.slot() as slot:
                # Checked once the slot is free: the stop may have come while this worker waited for it.
                if stop.is_set():
                    continue
                await self.handle(user_id, tally, slot)
            if progress is not None:
                progress.update(1)

    async def handle(self, user_id: str, tally: Tally, slot: Slot | None = None) -> Outcome:
        """Refreshes one user unless their profile is fresh; never raises for a user's failure. The outcome's
        signal goes to `slot`, the limiter's slot the user runs in (None: the caller bounds concurrency)."""
        with context.bound(context.RequestContext(request_id=context.new_request_id(), user_id=user_id)):
            outcome, signal = await self._handle(user_id, tally)
        tally.count(outcome)
        metrics.NEARLINE_USERS.labels(outcome.value).inc()
        if slot is not None:
            slot.signal = signal
        return outcome

    async def _handle(self, user_id: str, tally: Tally) -> tuple[Outcome, Signal]:
        started: float | None = None
        try:
            if not self.freshness.force and await self._is_fresh(user_id):
                return Outcome.SKIPPED, Signal.NEUTRAL
            started = time.perf_counter()
            refreshed = await self.refresher.refresh(user_id)
            await self.profiles.put(refreshed.profile)
        except grpc.aio.AioRpcError as error:
            log.warning(
                "near-line refresh failed",
                extra={"user_id": user_id, "code": error.code().name, "details": error.details()},
            )
            return Outcome.FAILED, _CONGESTED_CODES.get(error.code(), Signal.NEUTRAL)
        except Exception:
            # A bug for one user (or Redis trouble) must not end the run; the log keeps the traceback.
            log.exception("near-line refresh failed unexpectedly", extra={"user_id": user_id})
            return Outcome.FAILED, Signal.NEUTRAL
        finally:
            # Skipped users are left out: the histogram is the time a refresh takes.
            if started is not None:
                metrics.NEARLINE_USER_DURATION.observe(time.perf_counter() - started)
        tally.usage.merge(refreshed.usage)
        tally.explanations += refreshed.explanations
        tally.explanation_fallbacks += int(refreshed.explanation_fallback)
        profile = refreshed.profile
        if profile.fallback:
            log.info(
                "near-line profile from fallback answers",
                extra={"user_id": user_id, "parts": ",".join(profile.fallback_parts) or "unknown"},
            )
            # The near-line cannot tell a timed-out agent from one with nothing to ask (nearline.adaptive).
            return Outcome.FALLBACK, Signal.FALLBACK
        # Explanations from the template say nothing either way: the explain service does not say why.
        if refreshed.explanation_fallback:
            return Outcome.DONE, Signal.NEUTRAL
        return Outcome.DONE, Signal.ANSWERED

    async def _is_fresh(self, user_id: str) -> bool:
        freshness = self.freshness
        stored = await self.profiles.get(user_id, freshness.method)
        return stored is not None and stored.is_current(
            freshness.model, freshness.prompt_version, freshness.max_age_s, freshness.fallback_max_age_s
        )


async def from_list(users: Iterable[str], stop: asyncio.Event) -> AsyncIterator[str]:
    """The given users in order, until `stop` is set."""
    for user_id in users:
        if stop.is_set():
            return
        yield user_id
