"""Kills a Redis Cluster master under writes and counts what survived.

Writers send, through the stores themselves and the cluster client the services use
(`recgpt_domain.redis_connection`), events (`EventStore`), feed commands (`PreferenceStore`) and refresh
requests (`RefreshQueue`), each write a new id so that every acknowledged one can be looked for afterwards.
After `kill_after_s` the master holding the events' slot (`{experiments}`) is killed with SIGKILL; its
replica takes over after the cluster's node timeout and an election. Reported:

- failover_s: from the kill to the first event acknowledged again;
- refused: writes that failed meanwhile (the services answer them with 503; clients retry);
- acknowledged, found, lost: acknowledged writes, those the cluster holds afterwards, and the rest. Redis
  replicates asynchronously, so a write acknowledged just before the kill may not have reached the replica:
  `lost_outside_window` counts losses acknowledged more than `REPLICATION_WINDOW_S` before the kill, which
  should be none.

python -m loadtest.cluster_failover [--seconds 12] [--json-out FILE]
(it starts a local cluster of three masters with a replica each, from the redis-server the launcher uses)
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from redis.exceptions import RedisError

from experiments.events import Event, EventStore, iter_events, stream_key
from recgpt_domain.preferences import Change, Preferences, PreferenceStore
from recgpt_domain.redis_connection import connect
from recgpt_domain.refresh_queue import RefreshQueue
from recgpt_serving.benchmarks import emit
from recgpt_tools import redis_cluster
from recgpt_tools.redis_cluster import LocalCluster

PREFIX = "failover"
# Redis acknowledges a write before its replica has it; a master killed within this long of a write may
# take it along. The replicas of a local cluster lag by milliseconds; the window leaves room for a loaded
# machine.
REPLICATION_WINDOW_S = 1.0
WRITERS = 8
KINDS = ("event", "preference", "refresh")


@dataclass
class Tally:
    acked: list[tuple[str, str, float]] = field(default_factory=list)
    refused: list[tuple[str, float]] = field(default_factory=list)


@dataclass(frozen=True)
class FailoverResult:
    masters: int
    kill_at_s: float
    failover_s: float
    refused: int
    acknowledged: int
    found: int
    lost: int
    lost_outside_window: int
    recovered_kinds: list[str]


async def run(cluster: LocalCluster, seconds: float, kill_after_s: float) -> FailoverResult:
    client = connect(cluster.url, socket_timeout=1.0, socket_connect_timeout=1.0)
    stores = Stores(
        EventStore(client, PREFIX, dedup_ttl_s=3600),
        PreferenceStore(client, PREFIX),
        RefreshQueue(client, PREFIX, timeout_s=2.0),
    )
    tally = Tally()
    started = time.monotonic()
    victim = cluster.master_of(stream_key(PREFIX))
    numbers = iter(range(10**9))

    async def writer() -> None:
        while time.monotonic() - started < seconds:
            number = next(numbers)
            kind = KINDS[number % len(KINDS)]
            try:
                await stores.write(kind, str(number))
            except (RedisError, OSError, TimeoutError):
                tally.refused.append((kind, time.monotonic()))
                await asyncio.sleep(0.05)
                continue
            tally.acked.append((kind, str(number), time.monotonic()))

    async def killer() -> float:
        await asyncio.sleep(kill_after_s)
        await asyncio.to_thread(cluster.kill, victim)
        return time.monotonic()

    kill_task = asyncio.create_task(killer())
    await asyncio.gather(*(writer() for _ in range(WRITERS)))
    killed_at = await kill_task
    await asyncio.to_thread(cluster.wait_healthy, 30)
    found = await stores.found(tally.acked)
    await client.aclose()
    return _result(cluster, tally, found, killed_at, started)


@dataclass(frozen=True)
class Stores:
    events: EventStore
    preferences: PreferenceStore
    queue: RefreshQueue

    async def write(self, kind: str, name: str) -> None:
        if kind == "event":
            await self.events.store([(_event(name), "")], revision=1)
        elif kind == "preference":
            await self.preferences.apply(f"u{name}", _liking(name), f"more {name}")
        else:
            outcome = await self.queue.enqueue(f"u{name}")
            if outcome.value != "queued":
                raise RedisError(f"refresh of u{name} not queued: {outcome.value}")

    async def found(self, acked: list[tuple[str, str, float]]) -> set[tuple[str, str]]:
        """Which acknowledged writes the cluster holds now."""
        held = {("event", fields["id"].removeprefix("e")) for fields in await _events(self.events)}
        for kind, name, _ in acked:
            if kind == "preference":
                versioned = await self.preferences.read(f"u{name}")
                if name in versioned.preferences.soft_positive:
                    held.add((kind, name))
        queued = await _queued_users(self.queue)
        held |= {("refresh", user.removeprefix("u")) for user in queued}
        return held


def _event(name: str) -> Event:
    return Event(event_id=f"e{name}", type="click", user_id=f"u{name}", item_id="i1")


def _liking(name: str) -> Change:
    return Change(added=Preferences(soft_positive=[name]), removed=Preferences())


async def _events(events: EventStore) -> list[dict[str, str]]:
    return [fields async for fields in iter_events(events.client, PREFIX)]


async def _queued_users(queue: RefreshQueue) -> set[str]:
    entries = await queue.client.xrange(queue.keys.stream()) or []
    return {str(fields["user"]) for _, fields in entries if fields}


def _result(
    cluster: LocalCluster, tally: Tally, found: set[tuple[str, str]], killed_at: float, started: float
) -> FailoverResult:
    lost = [(kind, name, at) for kind, name, at in tally.acked if (kind, name) not in found]
    outside = [entry for entry in lost if entry[2] < killed_at - REPLICATION_WINDOW_S]
    events_after = [at for kind, _, at in tally.acked if kind == "event" and at > killed_at]
    recovered = sorted({kind for kind, _, at in tally.acked if at > killed_at})
    return FailoverResult(
        masters=len(cluster.masters),
        kill_at_s=round(killed_at - started, 3),
        failover_s=round(min(events_after) - killed_at, 3) if events_after else float("inf"),
        refused=len(tally.refused),
        acknowledged=len(tally.acked),
        found=len(tally.acked) - len(lost),
        lost=len(lost),
        lost_outside_window=len(outside),
        recovered_kinds=recovered,
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=12.0, help="how long the writers run")
    parser.add_argument("--kill-after", type=float, default=3.0, help="seconds of writes before the kill")
    parser.add_argument("--node-timeout-ms", type=int, default=1000, help="cluster-node-timeout")
    parser.add_argument("--json-out", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="recgpt-cluster-") as scratch:
        cluster = redis_cluster.start(Path(scratch), node_timeout_ms=args.node_timeout_ms)
        try:
            result = asyncio.run(run(cluster, args.seconds, args.kill_after))
        finally:
            cluster.stop()
    emit({"benchmark": "cluster_failover", **asdict(result)}, args.json_out)


if __name__ == "__main__":
    main()
