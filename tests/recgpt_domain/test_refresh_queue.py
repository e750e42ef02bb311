"""The refresh queue against the real Redis: atomic enqueue, a bound, markers that expire, at-least-once
delivery with leases, retries with backoff and dead letters."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, cast

import pytest
import redis.asyncio as aioredis

from recgpt_domain.refresh_queue import (
    GROUP,
    DeadLetter,
    EnqueueOutcome,
    Entry,
    QueueLimits,
    RefreshQueue,
    RetryPolicy,
    Settled,
)
from tests.recgpt_domain.stalling_proxy import stalling_proxy

T = TypeVar("T")
# Leases and backoffs short enough to lapse within a test; LONG never lapses within one.
SHORT = 0.05
LONG = 3600.0


def queue_of(
    client: aioredis.Redis,
    prefix: str,
    *,
    max_depth: int = 100,
    lease_s: float = SHORT,
    backoff_s: float = SHORT,
    max_attempts: int = 3,
    **retry: Any,
) -> RefreshQueue:
    return RefreshQueue(
        client,
        prefix,
        limits=QueueLimits(max_depth=max_depth, marker_ttl_s=LONG),
        retry=RetryPolicy(
            lease_s=lease_s, backoff_s=backoff_s, backoff_max_s=LONG, max_attempts=max_attempts, **retry
        ),
    )


async def eventually(probe: Callable[[], Awaitable[T]], timeout_s: float = 5.0) -> T:
    """Polls `probe` until it returns something truthy: a lease or backoff must first lapse."""
    async with asyncio.timeout(timeout_s):
        while not (found := await probe()):  # noqa: ASYNC110
            await asyncio.sleep(0.02)
    return found


async def entries_of(client: aioredis.Redis, queue: RefreshQueue) -> list[str]:
    rows = cast(list[tuple[str, dict[str, str]]], await client.xrange(queue.keys.stream()))
    return [fields["user"] for _, fields in rows]


async def held(client: aioredis.Redis, queue: RefreshQueue) -> dict[str, dict[str, Any]]:
    """The group's pending entries by id: consumer, time_since_delivered (ms), times_delivered."""
    rows = await client.xpending_range(queue.keys.stream(), GROUP, min="-", max="+", count=100)
    return {row["message_id"]: row for row in cast(list[dict[str, Any]], rows)}


async def test_a_user_is_queued_once_under_a_marker_that_expires(
    redis_client: aioredis.Redis, redis_prefix: str
) -> None:
    queue = queue_of(redis_client, redis_prefix)

    assert await queue.enqueue("ann") is EnqueueOutcome.QUEUED
    assert await queue.enqueue("ann") is EnqueueOutcome.ALREADY_QUEUED
    assert await queue.enqueue("bob") is EnqueueOutcome.QUEUED

    assert await entries_of(redis_client, queue) == ["ann", "bob"]
    assert await queue.depth() == 2
    ttl_ms = await redis_client.pttl(queue.keys.marker("ann"))
    assert 0 < ttl_ms <= LONG * 1000


async def test_a_full_queue_refuses_and_writes_nothing(
    redis_client: aioredis.Redis, redis_prefix: str
) -> None:
    queue = queue_of(redis_client, redis_prefix, max_depth=2)
    for user_id in ("a", "b"):
        assert await queue.enqueue(user_id) is EnqueueOutcome.QUEUED

    assert await queue.enqueue("c") is EnqueueOutcome.FULL

    assert await entries_of(redis_client, queue) == ["a", "b"]
    assert not await redis_client.exists(queue.keys.marker("c"))


async def test_an_acknowledged_entry_leaves_no_trace(redis_client: aioredis.Redis, redis_prefix: str) -> None:
    queue = queue_of(redis_client, redis_prefix)
    await queue.ensure_group()
    await queue.enqueue("ann")

    [entry] = await queue.take("w1", 10)
    assert (entry.user_id, entry.attempts) == ("ann", 1)
    assert await queue.pending() == 1
    assert await queue.take("w2", 10) == []  # held by w1, not delivered twice
    await queue.ack(entry)

    assert (await queue.depth(), await queue.pending()) == (0, 0)
    assert not await redis_client.exists(queue.keys.marker("ann"))
    assert await queue.enqueue("ann") is EnqueueOutcome.QUEUED  # a later miss queues the user again


async def test_users_queued_before_any_worker_are_delivered(
    redis_client: aioredis.Redis, redis_prefix: str
) -> None:
    queue = queue_of(redis_client, redis_prefix)
    await queue.enqueue("early")

    # No group yet: the first take makes it, from the beginning of the stream.
    assert [entry.user_id for entry in await queue.take("w1", 10)] == ["early"]


async def test_a_failed_entry_is_retried_after_its_backoff(
    redis_client: aioredis.Redis, redis_prefix: str
) -> None:
    waiting = queue_of(redis_client, redis_prefix, backoff_s=LONG)
    await waiting.ensure_group()
    await waiting.enqueue("ann")
    [entry] = await waiting.take("w1", 10)

    assert await waiting.fail("w1", entry, "UNAVAILABLE: down") is Settled.RETRY
    assert (await waiting.reclaim("w2", 10)).entries == []  # the backoff has not lapsed
    assert await waiting.pending() == 1

    due = queue_of(redis_client, redis_prefix, backoff_s=SHORT)
    reclaimed = await eventually(lambda: _reclaimed(due, "w2"))
    assert [(e.entry_id, e.user_id, e.attempts) for e in reclaimed] == [(entry.entry_id, "ann", 2)]
    assert await due.enqueue("ann") is EnqueueOutcome.ALREADY_QUEUED  # still queued while retried


async def _reclaimed(queue: RefreshQueue, consumer: str, count: int = 10) -> list[Entry]:
    return (await queue.reclaim(consumer, count)).entries


async def test_the_last_failed_attempt_is_dead_lettered_and_cools_down(
    redis_client: aioredis.Redis, redis_prefix: str
) -> None:
    queue = queue_of(redis_client, redis_prefix, max_attempts=2)
    await queue.ensure_group()
    await queue.enqueue("ann")
    [first] = await queue.take("w1", 10)
    assert await queue.fail("w1", first, "UNAVAILABLE: down") is Settled.RETRY
    [second] = await eventually(lambda: _reclaimed(queue, "w1"))

    assert await queue.fail("w1", second, "INTERNAL: boom") is Settled.DEAD_LETTER

    assert (await queue.depth(), await queue.pending()) == (0, 0)
    [letter] = await queue.dead_letters()
    assert (letter.user_id, letter.reason, letter.attempts) == ("ann", "INTERNAL: boom", 2)
    assert await queue.enqueue("ann") is EnqueueOutcome.RECENTLY_FAILED
    assert await redis_client.pttl(queue.keys.marker("ann")) > 0


async def test_without_a_cool_down_a_dead_lettered_user_can_be_queued_again(
    redis_client: aioredis.Redis, redis_prefix: str
) -> None:
    queue = queue_of(redis_client, redis_prefix, max_attempts=1, failed_cooldown_s=0)
    await queue.ensure_group()
    await queue.enqueue("ann")
    [entry] = await queue.take("w1", 10)

    assert await queue.fail("w1", entry, "x" * 1000) is Settled.DEAD_LETTER

    [letter] = await queue.dead_letters()
    assert len(letter.reason) == 300  # reasons are cut: the dead letters stay small
    assert await queue.enqueue("ann") is EnqueueOutcome.QUEUED


async def test_dead_letters_are_capped(redis_client: aioredis.Redis, redis_prefix: str) -> None:
    queue = queue_of(redis_client, redis_prefix, max_attempts=1, dead_letters_max=2)
    await queue.ensure_group()
    for user_id in ("a", "b", "c"):
        await queue.enqueue(user_id)
    for entry in await queue.take("w1", 10):
        await queue.fail("w1", entry, "boom")

    assert [letter.user_id for letter in await queue.dead_letters()] == ["c", "b"]
    assert await redis_client.xlen(queue.keys.dead_letters()) == 2


async def test_a_dead_workers_entries_are_claimed_after_the_lease(
    redis_client: aioredis.Redis, redis_prefix: str
) -> None:
    queue = queue_of(redis_client, redis_prefix)
    await queue.ensure_group()
    for user_id in ("a", "b", "c"):
        await queue.enqueue(user_id)
    taken = await queue.take("dead", 2)

    reclaimed = await eventually(lambda: _reclaimed(queue, "alive"))

    assert sorted((e.user_id, e.attempts) for e in reclaimed) == [("a", 2), ("b", 2)]
    assert {e.entry_id for e in reclaimed} == {e.entry_id for e in taken}
    assert {row["consumer"] for row in (await held(redis_client, queue)).values()} == {"alive"}
    assert [e.user_id for e in await queue.take("alive", 10)] == ["c"]


async def test_reclaim_takes_no_more_than_asked(redis_client: aioredis.Redis, redis_prefix: str) -> None:
    queue = queue_of(redis_client, redis_prefix)
    await queue.ensure_group()
    for user_id in ("a", "b", "c"):
        await queue.enqueue(user_id)
    await queue.take("dead", 3)

    [entry] = await eventually(lambda: _reclaimed(queue, "alive", count=1))

    assert entry.user_id == "a"  # oldest first
    owners = sorted(row["consumer"] for row in (await held(redis_client, queue)).values())
    assert owners == ["alive", "dead", "dead"]


async def test_an_entry_whose_holders_keep_dying_is_dead_lettered(
    redis_client: aioredis.Redis, redis_prefix: str
) -> None:
    queue = queue_of(redis_client, redis_prefix, max_attempts=2)
    await queue.ensure_group()
    await queue.enqueue("poison")
    await queue.take("dead-1", 1)
    await eventually(lambda: _reclaimed(queue, "dead-2"))  # second delivery; its holder dies too

    reclaimed = await eventually(lambda: _dead(queue, "alive"))

    assert [(d.user_id, d.attempts) for d in reclaimed] == [("poison", 2)]
    assert (await queue.depth(), await queue.pending()) == (0, 0)
    [letter] = await queue.dead_letters()
    assert letter.reason == "the worker refreshing this user stopped 2 times"


async def _dead(queue: RefreshQueue, consumer: str) -> list[DeadLetter]:
    return list((await queue.reclaim(consumer, 10)).dead)


async def test_renew_restarts_the_lease_of_held_entries_only(
    redis_client: aioredis.Redis, redis_prefix: str
) -> None:
    queue = queue_of(redis_client, redis_prefix, lease_s=LONG)
    await queue.ensure_group()
    await queue.enqueue("a")
    await queue.enqueue("b")
    [a] = await queue.take("w1", 1)
    [b] = await queue.take("w2", 1)
    await asyncio.sleep(0.3)

    assert await queue.renew("w1", [a.entry_id, b.entry_id]) == [a.entry_id]

    rows = await held(redis_client, queue)
    assert rows[b.entry_id]["consumer"] == "w2"  # never taken from its holder
    assert rows[b.entry_id]["time_since_delivered"] >= 300
    assert rows[a.entry_id]["time_since_delivered"] < rows[b.entry_id]["time_since_delivered"]
    assert rows[a.entry_id]["times_delivered"] == 1  # a renewal is not a delivery


async def test_stopped_workers_holding_nothing_are_forgotten(
    redis_client: aioredis.Redis, redis_prefix: str
) -> None:
    queue = queue_of(redis_client, redis_prefix, forget_consumers_after_s=0.1)
    await queue.ensure_group()
    await queue.enqueue("a")
    await queue.enqueue("b")
    [done] = await queue.take("finished", 1)
    await queue.ack(done)
    await queue.take("holding", 1)
    await asyncio.sleep(0.3)

    assert await queue.forget_idle_consumers() == 1

    consumers = await redis_client.xinfo_consumers(queue.keys.stream(), GROUP)
    assert [consumer["name"] for consumer in consumers] == ["holding"]


async def test_a_redis_that_stops_answering_mid_enqueue_leaves_all_or_nothing(
    redis_client: aioredis.Redis, redis_url: str, redis_prefix: str
) -> None:
    # The script is loaded, so the stalled call runs in Redis: the client only misses the answer.
    await queue_of(redis_client, redis_prefix).enqueue("warm-up")
    async with stalling_proxy(redis_url) as proxy:
        proxied = aioredis.Redis.from_url(proxy.url, decode_responses=True)
        await proxied.ping()
        queue = RefreshQueue(proxied, redis_prefix, timeout_s=0.3)
        proxy.stalled = True

        with pytest.raises(TimeoutError):
            await queue.enqueue("ann")
        await proxied.aclose()

    # Whatever reached Redis was applied whole: the marker and the entry together, never one alone.
    async def written() -> bool:
        return bool(await redis_client.exists(queue.keys.marker("ann"))) or "ann" in await entries_of(
            redis_client, queue
        )

    await eventually(written)
    assert await redis_client.get(queue.keys.marker("ann"))
    assert await entries_of(redis_client, queue) == ["warm-up", "ann"]


async def test_a_redis_that_never_answers_fails_every_call_in_bounded_time(redis_url: str) -> None:
    async with stalling_proxy(redis_url) as proxy:
        proxied = aioredis.Redis.from_url(proxy.url, decode_responses=True)
        await proxied.ping()
        proxy.stalled = True
        queue = RefreshQueue(proxied, "never", timeout_s=0.1)
        entry = Entry("0-1", "ann", 1)
        calls: list[Callable[[], Awaitable[object]]] = [
            lambda: queue.enqueue("ann"),
            lambda: queue.take("w", 1, block_s=0.1),
            lambda: queue.reclaim("w", 1),
            lambda: queue.ack(entry),
            lambda: queue.fail("w", entry, "boom"),
            lambda: queue.depth(),
        ]
        for call in calls:
            with pytest.raises(TimeoutError):
                await call()
        await proxied.aclose()


def test_an_entry_is_due_after_the_lease_or_its_backoff_whichever_is_longer() -> None:
    policy = RetryPolicy(lease_s=10, backoff_s=4, backoff_max_s=100)
    assert [policy.due_after_s(attempts) for attempts in (1, 2, 3, 4, 5, 6)] == [10, 10, 16, 32, 64, 100]
