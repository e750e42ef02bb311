"""What keeps the experiment streams bounded: the config history to its last revisions, the events to their
retention (trimmed by age, by the store and by the gateway's hourly task)."""

from __future__ import annotations

from typing import cast

import redis.asyncio as aioredis

from experiments.events import Event, EventStore
from experiments.serving import Experiments, ExperimentSettings
from experiments.store import ConfigStore
from tests.experiments.configs import VARIANTS, config, two_arms
from tests.polling import until

Entries = list[tuple[str, dict[str, str]]]


def events(tag: str, count: int) -> list[tuple[Event, str]]:
    return [
        (Event(event_id=f"{tag}-{i}", type="click", user_id=f"u{i}", item_id="i1"), "pipeline/exp-a/control")
        for i in range(count)
    ]


async def server_ms(client: aioredis.Redis) -> int:
    seconds, micros = await client.time()
    return int(seconds) * 1000 + int(micros) // 1000


async def test_the_config_history_keeps_its_last_revisions(
    redis_client: aioredis.Redis, redis_prefix: str
) -> None:
    store = ConfigStore(redis_client, redis_prefix, history_max=3)
    revisions = [await store.put(config(two_arms(split=1000 * i)), f"change {i}") for i in range(1, 6)]
    assert revisions == sorted(set(revisions))
    assert [c["revision"] for c in await store.history()] == revisions[:1:-1]
    assert await store.revision(revisions[0]) is None
    kept = await store.revision(revisions[-1])
    assert kept is not None and kept.config == config(two_arms(split=5000)) and kept.origin == revisions[-1]


async def test_events_before_the_bound_are_trimmed_and_newer_ones_kept(
    redis_client: aioredis.Redis, redis_prefix: str
) -> None:
    store = EventStore(redis_client, redis_prefix, dedup_ttl_s=60)
    await store.store(events("old", 300), revision=1)
    old_until = int(str((await redis_client.xinfo_stream(store.stream))["last-generated-id"]).split("-")[0])
    await until(lambda: _later(redis_client, old_until))  # ids are milliseconds: the new ones get a later one
    await store.store(events("new", 300), revision=1)

    dropped = await store.trim_before(old_until + 1)
    left = [fields["id"] for _, fields in cast(Entries, await redis_client.xrange(store.stream))]
    assert {f"new-{i}" for i in range(300)} <= set(left)
    # `~` drops whole nodes of the stream only: less than one node of old events may stay until next time.
    assert dropped >= 200 and len(left) - 300 == 300 - dropped
    assert await store.trim_before(old_until + 1) == 0


async def _later(client: aioredis.Redis, ms: int) -> bool:
    return await server_ms(client) > ms


async def test_the_gateway_trims_the_events_when_it_starts(
    redis_client: aioredis.Redis, redis_prefix: str
) -> None:
    settings = ExperimentSettings(
        prefix=redis_prefix,
        known_variants=VARIANTS,
        config_path=None,
        refresh_s=0.05,
        redis_timeout_s=0.5,
        exposure_flush_s=0.05,
        exposure_buffer_max=100,
        event_dedup_ttl_s=60,
        catalogue_dir=None,
        event_retention_s=0.0,
    )
    experiments = Experiments(redis_client, settings)
    await experiments.events.store(events("e", 250), revision=0)
    written = await server_ms(redis_client)
    await until(lambda: _later(redis_client, written))  # all of them older than the trim's bound
    await experiments.start()
    try:
        await until(lambda: _empty(redis_client, experiments.events.stream))
    finally:
        await experiments.close()


async def _empty(client: aioredis.Redis, stream: str) -> bool:
    return int(await client.xlen(stream)) == 0
