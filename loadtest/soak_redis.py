"""Redis memory under a steady load of many users: flat once the bounds of `recgpt_domain.key_families` bite.

Rounds of synthetic traffic through the stores themselves (no gateway, so that the figures are Redis's own):
each round every user sends a feed command (`PreferenceStore.apply`) and `events_per_user` events
(`EventStore.store`, in batches of 200), and made-up users are read and deleted (which must create nothing).
After each round the events older than the previous round are trimmed, as the gateway's hourly trim does
with 90 days, and `INFO memory` is sampled. The bounds are shortened to fit minutes instead of months:

- events:              MINID keeps two rounds              (90 days in production)
- event dedup markers: TTL `dedup_ttl_s`, 1 s               (7 days)
- feed history:        LTRIM to `history_limit`, 2 turns    (20 turns, and a 30-day TTL)
- preferences:         state, one key a user, its lists capped (commands cycle through three words)

Memory grows while the users' state is created and the bounds fill (two rounds), then stays flat. Each
sample is taken one marker TTL after its round, with the expired markers reaped (a SCAN over them): which
markers Redis's background expiry has reached at a given moment depends on the machine's load, and would
move the figure by a round's markers; a marker that never expires still shows.

python -m loadtest.soak_redis [--redis-url redis://...] [--users 100000] [--rounds 6]
(without --redis-url it starts a scratch redis-server of its own)
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import redis.asyncio as aioredis

from experiments.events import MAX_BATCH, Event, EventStore
from recgpt_domain.preferences import Change, Preferences, PreferenceStore
from recgpt_domain.redis_connection import connect
from recgpt_tools import redis_server

# Users whose command is in flight at once (each holds a connection for its WATCH).
CONCURRENCY = 64
WORDS = ("glass", "steel", "plastic")
GHOSTS = 100


@dataclass(frozen=True)
class Sample:
    round: int
    seconds: float
    used_memory: int
    keys: int
    events: int

    def line(self) -> str:
        return (
            f"{self.round:>5} {self.seconds:>8.1f} {self.used_memory / 2**20:>10.1f} "
            f"{self.keys:>10} {self.events:>9}"
        )


HEADER = f"{'round':>5} {'seconds':>8} {'memory MiB':>10} {'keys':>10} {'events':>9}"


async def soak(
    client: aioredis.Redis,
    prefix: str,
    users: int,
    rounds: int,
    *,
    events_per_user: int = 2,
    history_limit: int = 2,
    dedup_ttl_s: float = 1.0,
) -> list[Sample]:
    """The memory after each round (round 0: before any); raises when a made-up user got a key."""
    preferences = PreferenceStore(client, prefix, history_limit=history_limit)
    events = EventStore(client, prefix, dedup_ttl_s=dedup_ttl_s)
    started = time.perf_counter()
    samples = [await _sample(client, events, 0, started)]
    round_starts: list[int] = []
    for number in range(1, rounds + 1):
        round_starts.append(await _server_ms(client))
        await _commands(preferences, users, number)
        await _events(events, users, number, events_per_user)
        await _ghosts(preferences, number)
        if len(round_starts) >= 2:
            # Keeps this round and the one before: what 90 days of retention keeps, in rounds.
            await events.trim_before(round_starts[-2])
        await _reap_markers(client, events, dedup_ttl_s)
        samples.append(await _sample(client, events, number, started))
    return samples


async def _commands(store: PreferenceStore, users: int, number: int) -> None:
    change = Change(added=Preferences(soft_positive=[WORDS[number % len(WORDS)]]), removed=Preferences())
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(user: int) -> None:
        async with gate:
            await store.apply(f"user-{user}", change, f"more {WORDS[number % len(WORDS)]}")

    for start in range(0, users, 10_000):
        await asyncio.gather(*(one(user) for user in range(start, min(users, start + 10_000))))


async def _events(store: EventStore, users: int, number: int, per_user: int) -> None:
    batch: list[tuple[Event, str]] = []
    pending: list[asyncio.Task[list[bool]]] = []
    for user in range(users):
        for k in range(per_user):
            event_id = f"{user}-{number}-{k}"
            batch.append(
                (Event(event_id=event_id, type="click", user_id=f"user-{user}", item_id=f"i{k}"), "soak")
            )
            if len(batch) == MAX_BATCH:
                pending.append(asyncio.create_task(store.store(batch, revision=number)))
                batch = []
        if len(pending) >= 8:
            await asyncio.gather(*pending)
            pending = []
    if batch:
        pending.append(asyncio.create_task(store.store(batch, revision=number)))
    await asyncio.gather(*pending)


async def _ghosts(store: PreferenceStore, number: int) -> None:
    """Made-up users read and deleted: no key may appear for them."""
    reset = Change(Preferences(), Preferences(), reset=True)
    ghosts = [f"ghost-{number}-{i}" for i in range(GHOSTS)]
    for ghost in ghosts:
        await store.read(ghost)
        await store.apply(ghost, reset, "(reset)")
    keys = [key for ghost in ghosts for key in (store.key(ghost), store.history_key(ghost))]
    created = await store.client.exists(*keys)
    if created:
        raise AssertionError(f"{created} keys created for made-up users by reads and DELETEs")


async def _reap_markers(client: aioredis.Redis, events: EventStore, ttl_s: float) -> None:
    """Waits out the markers' TTL, then touches them: SCAN deletes the expired keys it meets."""
    await asyncio.sleep(ttl_s)
    async for _ in client.scan_iter(match=f"{events.marker_prefix}*", count=10_000):
        pass


async def _sample(client: aioredis.Redis, events: EventStore, number: int, started: float) -> Sample:
    memory = await client.info("memory")
    return Sample(
        round=number,
        seconds=time.perf_counter() - started,
        used_memory=int(memory["used_memory"]),
        keys=int(await client.dbsize()),
        events=int(await client.xlen(events.stream)),
    )


async def _server_ms(client: aioredis.Redis) -> int:
    seconds, micros = await client.time()
    return int(seconds) * 1000 + int(micros) // 1000


# The rounds after which every bound has bitten (two rounds of events), with a round of margin.
FILLED = 3


def growth_after(samples: Sequence[Sample], bite: int) -> float:
    """How much memory grew from round `bite` to the last, as a share of its growth up to `bite`."""
    base, bitten = samples[0].used_memory, samples[bite].used_memory
    return (max(s.used_memory for s in samples[bite:]) - bitten) / max(1, bitten - base)


async def _run(redis_url: str, users: int, rounds: int) -> list[Sample]:
    client = connect(redis_url, max_connections=CONCURRENCY * 2)
    prefix = f"soak-{uuid.uuid4().hex[:8]}"
    try:
        return await soak(client, prefix, users, rounds)
    finally:
        keys = [key async for key in client.scan_iter(match=f"{prefix}:*", count=10_000)]
        for start in range(0, len(keys), 10_000):
            await client.delete(*keys[start : start + 10_000])
        await client.aclose()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--redis-url", default="", help="a Redis to use (default: a scratch one)")
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=6)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as scratch:
        process = None
        url = args.redis_url
        if not url:
            port = redis_server.free_port()
            process = redis_server.start(port, Path(scratch), Path(scratch) / "redis.log")
            url = f"redis://127.0.0.1:{port}/0"
        try:
            samples = asyncio.run(_run(url, args.users, args.rounds))
        finally:
            if process is not None:
                process.terminate()
                process.wait(timeout=10)
    print(f"{args.users} users, {args.rounds} rounds")
    print(HEADER)
    for sample in samples:
        print(sample.line())
    print(f"growth after round {FILLED}: {growth_after(samples, FILLED):+.1%} of the growth up to it")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
