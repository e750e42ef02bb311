"""Keys under the families' old names (before hash tags) move to the new names, once, losing nothing."""

from __future__ import annotations

import pytest
import redis
import redis.asyncio as aioredis

from recgpt_domain.behaviour_store import BehaviourStore
from recgpt_domain.catalogue import Interaction
from recgpt_domain.key_families import FAMILIES, RENAMED, family_of
from recgpt_domain.key_migration import migrate, new_name
from recgpt_domain.preferences import PreferenceStore, Versioned
from recgpt_domain.refresh_queue import RefreshQueue


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("p:behaviour:u1", "p:behaviour:{u1}"),
        ("p:users", "p:{catalogue}:users"),
        ("p:feed:prefs:a:b", "p:feed:prefs:{a:b}"),
        ("p:refresh-queue:recgpt-v1:queued:u1", "p:refresh-queue:{recgpt-v1}:queued:u1"),
        ("p:experiments:event-id:e:1", "p:{experiments}:event-id:e:1"),
        ("p:auth:keys", "p:{auth}:keys"),
    ],
)
def test_an_old_name_maps_to_its_family_s_new_name(old: str, new: str) -> None:
    assert new_name(old, "p") == new
    assert family_of(new, "p") is not None


def test_current_and_unrelated_names_are_left_alone() -> None:
    for key in ("p:behaviour:{u1}", "p:profile:recgpt-v1:u1", "p:staging:t:behaviour:u1", "q:users"):
        assert new_name(key, "p") is None


def test_every_renamed_family_exists() -> None:
    patterns = {family.pattern for family in FAMILIES}
    assert set(RENAMED) <= patterns


async def test_old_keys_are_renamed_and_read_by_the_stores(
    redis_client: aioredis.Redis, redis_url: str, redis_prefix: str
) -> None:
    p = redis_prefix
    await redis_client.rpush(f"{p}:behaviour:u1", Interaction(item_id="i1").model_dump_json())
    await redis_client.sadd(f"{p}:users", "u1")
    stored = Versioned(version=3).model_dump_json()
    await redis_client.set(f"{p}:feed:prefs:u1", stored)
    await redis_client.xadd(f"{p}:refresh-queue:recgpt-v1:stream", {"user": "u9"})
    await redis_client.xgroup_create(f"{p}:refresh-queue:recgpt-v1:stream", "workers", id="0")
    # Written by the new code before the migration ran: kept, and the old one left beside it.
    await redis_client.set(f"{p}:feed:prefs:u2", stored)
    await redis_client.set(f"{p}:feed:prefs:{{u2}}", Versioned(version=7).model_dump_json())

    sync = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        first, second = migrate(sync, p), migrate(sync, p)
    finally:
        sync.close()

    assert (first.renamed, first.conflicts) == (4, 1)
    assert (second.renamed, second.conflicts) == (0, 1), "a second run has nothing more to move"
    behaviour = BehaviourStore(redis_client, p)
    assert [i.item_id for i in await behaviour.recent("u1", 5)] == ["i1"]
    assert await behaviour.users() == {"u1"}
    preferences = PreferenceStore(redis_client, p)
    assert (await preferences.read("u1")).version == 3
    assert (await preferences.read("u2")).version == 7
    queue = RefreshQueue(redis_client, p)
    assert await queue.depth() == 1
    groups = await redis_client.xinfo_groups(queue.keys.stream())
    assert [group["name"] for group in groups] == ["workers"], "the consumer group moved with the stream"
