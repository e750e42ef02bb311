"""`recgpt-nearline --follow`: refreshes the users the gateway queues, each at least once.

The follower takes only as many entries as its concurrency limit leaves free (`nearline.adaptive`), so every
entry it holds is being refreshed (or, just after the limit fell, waits for a slot), and renews their lease
while they run. A user refreshed (or found fresh) is acknowledged; a failed one is left pending and taken
again after its backoff, up to the policy's attempts, then dead-lettered. A follower that dies leaves its
entries pending: any follower (a restarted one included) claims them once their lease lapses.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from typing import Protocol

from redis.exceptions import RedisError

from nearline.job import NearlineJob, Outcome, Tally
from recgpt_domain.refresh_queue import Entry, RefreshQueue, Settled
from recgpt_serving import metrics

log = logging.getLogger(__name__)

QUEUE_ERRORS = (RedisError, OSError, TimeoutError)
_EVENTS = {
    event: metrics.REFRESH_QUEUE_ENTRIES.labels(event)
    for event in ("taken", "reclaimed", "acked", "released", Settled.RETRY, Settled.DEAD_LETTER)
}


class FailureReasons(Protocol):
    """`nearline.refresh.ReasonedRefresher`: why a user's last refresh failed, for the dead letter."""

    def reason(self, user_id: str) -> str: ...


def consumer_name() -> str:
    """This process in the consumer group: a restarted worker is a new consumer, and claims what the old
    one held once its lease lapses."""
    return f"{socket.gethostname()}-{os.getpid()}"


class QueueFollower:
    def __init__(
        self,
        job: NearlineJob,
        refresher: FailureReasons,
        queue: RefreshQueue,
        poll_s: float,
        consumer: str | None = None,
        retry_s: float = 5.0,
        stop_grace_s: float = 20.0,
    ) -> None:
        self.job = job
        self.refresher = refresher
        self.queue = queue
        self.poll_s = poll_s
        self.consumer = consumer or consumer_name()
        # Redis being away does not end the follower: it logs, waits this long (or the stop) and tries again.
        self.retry_s = retry_s
        # After the stop, users in flight get this long to finish; the rest are handed back to the queue.
        self.stop_grace_s = stop_grace_s
        self._depth = metrics.REFRESH_QUEUE_DEPTH.labels(queue.method)
        self._running: dict[str, asyncio.Task[None]] = {}
        self._held: dict[str, Entry] = {}
        self._next_reclaim = 0.0

    async def run(self, stop: asyncio.Event) -> Tally:
        """Follows the queue until `stop` is set, then takes nothing more: the users in flight get
        `stop_grace_s` to finish and be settled, and those still running after it are handed back."""
        tally = Tally()
        heartbeat = asyncio.create_task(self._heartbeat())
        try:
            if await self._prepare(stop):
                await self._follow(tally, stop)
        finally:
            await self._finish_in_flight()
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat
        return tally

    async def _finish_in_flight(self) -> None:
        """Waits up to the grace for the users in flight; cancels the rest and releases their entries, so
        that another worker takes them at its next reclaim instead of after the lease (an LLM-bound refresh
        may run for minutes, longer than a pod is given to stop)."""
        if not self._running:
            return
        _, unfinished = await asyncio.wait(list(self._running.values()), timeout=self.stop_grace_s)
        if not unfinished:
            return
        cut = [entry for entry_id, entry in self._held.items() if self._running.get(entry_id) in unfinished]
        for task in unfinished:
            task.cancel()
        await asyncio.gather(*unfinished, return_exceptions=True)
        try:
            released = await self.queue.release(self.consumer, cut)
        except QUEUE_ERRORS as error:
            log.warning(
                "could not release the refresh queue entries; taken again once their lease lapses",
                extra={"entries": len(cut), "error": repr(error)},
            )
            return
        _EVENTS["released"].inc(released)
        log.info("refreshes cut short by the stop were handed back", extra={"entries": released})

    async def _prepare(self, stop: asyncio.Event) -> bool:
        """The group exists and consumers of stopped workers are forgotten; False when stopped first."""
        while not stop.is_set():
            try:
                await self.queue.ensure_group()
                forgotten = await self.queue.forget_idle_consumers()
            except QUEUE_ERRORS as error:
                log.warning("refresh queue unavailable", extra={"error": repr(error)})
                await _wait(stop, self.retry_s)
                continue
            log.info("following the refresh queue", extra={"consumer": self.consumer, "forgotten": forgotten})
            return True
        return False

    async def _follow(self, tally: Tally, stop: asyncio.Event) -> None:
        while not stop.is_set():
            free = self.job.limiter.limit - len(self._running)
            if free <= 0:
                await _first_done(list(self._running.values()), stop)
                continue
            try:
                # Due entries first (a dead worker's, or failed ones whose backoff lapsed), then new ones;
                # each is started as soon as it is held, so a Redis error later in the turn strands none.
                started = await self._start_due(free, tally)
                if started < free:
                    # Wait for new entries only when there is nothing else to start.
                    block_s = 0 if started else self.poll_s
                    taken = await self.queue.take(self.consumer, free - started, block_s)
                    _EVENTS["taken"].inc(len(taken))
                    for entry in taken:
                        self._start(entry, tally)
                self._depth.set(await self.queue.depth())
            except QUEUE_ERRORS as error:
                log.warning("refresh queue unavailable", extra={"error": repr(error)})
                await _wait(stop, self.retry_s)

    async def _start_due(self, free: int, tally: Tally) -> int:
        """Starts up to `free` entries whose lease or backoff lapsed (checked every half lease)."""
        now = asyncio.get_running_loop().time()
        if now < self._next_reclaim:
            return 0
        self._next_reclaim = now + self.queue.retry.lease_s / 2
        reclaimed = await self.queue.reclaim(self.consumer, free)
        for entry in reclaimed.entries:
            self._start(entry, tally)
        _EVENTS["reclaimed"].inc(len(reclaimed.entries))
        _EVENTS[Settled.DEAD_LETTER].inc(len(reclaimed.dead))
        for dead in reclaimed.dead:
            log.warning("refresh dead-lettered", extra={"user_id": dead.user_id, "reason": dead.reason})
        return len(reclaimed.entries)

    def _start(self, entry: Entry, tally: Tally) -> None:
        task = asyncio.create_task(self._settle(entry, tally))
        self._running[entry.entry_id] = task
        self._held[entry.entry_id] = entry
        task.add_done_callback(lambda _: self._forget(entry.entry_id))

    def _forget(self, entry_id: str) -> None:
        self._running.pop(entry_id, None)
        self._held.pop(entry_id, None)

    async def _settle(self, entry: Entry, tally: Tally) -> None:
        """Refreshes the user, then acknowledges or fails the entry; a Redis error leaves it pending, to be
        taken again once its lease lapses."""
        # A slot is free unless the limit fell since the entry was taken: then it waits for one.
        async with self.job.limiter.slot() as slot:
            outcome = await self.job.handle(entry.user_id, tally, slot)
        try:
            if outcome is Outcome.FAILED:
                reason = self.refresher.reason(entry.user_id)
                settled = await self.queue.fail(self.consumer, entry, reason)
                _EVENTS[settled].inc()
                if settled is Settled.DEAD_LETTER:
                    log.warning(
                        "refresh dead-lettered",
                        extra={"user_id": entry.user_id, "attempts": entry.attempts, "reason": reason},
                    )
            else:
                await self.queue.ack(entry)
                _EVENTS["acked"].inc()
        except QUEUE_ERRORS as error:
            log.warning(
                "could not settle a refresh queue entry; it will be taken again",
                extra={"user_id": entry.user_id, "error": repr(error)},
            )

    async def _heartbeat(self) -> None:
        """Renews the lease on the entries in flight every third of it, so that no other worker takes them."""
        while True:
            await asyncio.sleep(self.queue.retry.lease_s / 3)
            held = list(self._running)
            try:
                renewed = set(await self.queue.renew(self.consumer, held))
            except QUEUE_ERRORS as error:
                log.warning("could not renew the refresh queue lease", extra={"error": repr(error)})
                continue
            lost = [entry_id for entry_id in held if entry_id not in renewed and entry_id in self._running]
            if lost:
                # Another worker took them after a stall longer than the lease: both refresh, one settles.
                log.warning("refresh queue lease lost", extra={"entries": len(lost)})


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


async def _first_done(tasks: list[asyncio.Task[None]], stop: asyncio.Event) -> None:
    """Returns when one of `tasks` finishes or `stop` is set."""
    stopping = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait([*tasks, stopping], return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopping.cancel()
