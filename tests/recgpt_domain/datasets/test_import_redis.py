"""Behaviour log -> Redis: readable through BehaviourStore, swapped in whole, never half-written."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import redis
import redis.asyncio as aioredis

from recgpt_domain.behaviour_store import BehaviourKeys, BehaviourStore
from recgpt_domain.catalogue import BEHAVIOUR_FILE, CatalogueManifest, iter_histories
from recgpt_domain.datasets import redis_loader
from recgpt_domain.datasets.errors import DatasetFormatError
from recgpt_domain.datasets.importer import import_dataset
from tests.recgpt_domain.datasets.dataset_subsets import replace_line, unisrec_subset


async def _keys(client: aioredis.Redis, prefix: str) -> set[str]:
    return {key async for key in client.scan_iter(match=f"{prefix}:*", count=1000)}


def _load_one_user_per_round_trip(redis_url: str, prefix: str, folder: Path) -> None:
    """So that the users before a bad line really are staged in Redis when it fails."""
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        histories = redis_loader.read_histories(folder / BEHAVIOUR_FILE)
        redis_loader.load_histories(client, prefix, histories, "fingerprint", batch_interactions=1)
    finally:
        client.close()


async def test_the_real_log_reads_through_behaviour_store(
    amazon_catalogue: tuple[Path, CatalogueManifest],
    redis_url: str,
    redis_prefix: str,
    redis_client: aioredis.Redis,
) -> None:
    folder, manifest = amazon_catalogue
    started = time.perf_counter()
    loaded = redis_loader.load_behaviour(folder, redis_url, redis_prefix)
    seconds = time.perf_counter() - started
    assert loaded == manifest.interactions == 47045
    assert seconds < 20, f"loading took {seconds:.1f} s"
    store = BehaviourStore(redis_client, redis_prefix)
    history = await store.history("ABW8NXS7SV55K")
    assert [i.item_id for i in history.interactions][:3] == ["B00TNNWMXI", "B00IBZE2EQ", "B010Y25PQC"]
    assert len(history.interactions) == 14
    recent = await store.recent("ABW8NXS7SV55K", 2)
    assert [i.item_id for i in recent] == ["B0147CJTSA", "B00THZKC8Y"]
    assert "B00IBZE2EQ" in await store.seen("ABW8NXS7SV55K")
    assert await store.known("ABW8NXS7SV55K")
    assert await redis_client.scard(BehaviourKeys(redis_prefix).users()) == 6679
    marker = await redis_client.get(redis_loader.marker_key(redis_prefix))
    assert marker == manifest.behaviour_fingerprint
    assert not [k for k in await _keys(redis_client, redis_prefix) if ":staging" in k]


async def test_a_new_import_replaces_the_users_of_the_previous_one(
    amazon_dir: Path,
    tmp_path: Path,
    redis_url: str,
    redis_prefix: str,
    redis_client: aioredis.Redis,
) -> None:
    first = tmp_path / "first"
    second = tmp_path / "second"
    import_dataset(unisrec_subset(amazon_dir, tmp_path / "a", "A", range(0, 12)), first)
    import_dataset(unisrec_subset(amazon_dir, tmp_path / "b", "B", range(6, 18)), second)
    first_users = {h.user_id for h in iter_histories(first)}
    second_users = {h.user_id for h in iter_histories(second)}
    assert first_users - second_users and second_users - first_users

    redis_loader.load_behaviour(first, redis_url, redis_prefix)
    redis_loader.load_behaviour(second, redis_url, redis_prefix)

    keys = BehaviourKeys(redis_prefix)
    assert set(await redis_client.smembers(keys.users())) == second_users
    for uid in first_users - second_users:
        assert not await redis_client.exists(keys.log(uid), keys.seen(uid))
    store = BehaviourStore(redis_client, redis_prefix)
    for history in iter_histories(second):
        assert await store.history(history.user_id) == history
    expected = {keys.users(), redis_loader.marker_key(redis_prefix)}
    expected |= {keys.log(u) for u in second_users} | {keys.seen(u) for u in second_users}
    assert await _keys(redis_client, redis_prefix) == expected


async def test_a_failed_load_leaves_the_previous_import_and_no_staging_keys(
    small_unisrec: Path,
    tmp_path: Path,
    redis_url: str,
    redis_prefix: str,
    redis_client: aioredis.Redis,
) -> None:
    good = tmp_path / "good"
    import_dataset(small_unisrec, good)
    redis_loader.load_behaviour(good, redis_url, redis_prefix)
    before = await _keys(redis_client, redis_prefix)
    marker = await redis_client.get(redis_loader.marker_key(redis_prefix))

    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / BEHAVIOUR_FILE).write_text((good / BEHAVIOUR_FILE).read_text())
    replace_line(bad / BEHAVIOUR_FILE, 5, '{"user_id": "x", "interactions": "not a list"}')
    with pytest.raises(DatasetFormatError) as caught:
        _load_one_user_per_round_trip(redis_url, redis_prefix, bad)
    assert (caught.value.path.name, caught.value.line) == (BEHAVIOUR_FILE, 5)

    assert await _keys(redis_client, redis_prefix) == before
    assert await redis_client.get(redis_loader.marker_key(redis_prefix)) == marker


async def test_a_failed_first_load_writes_nothing(
    small_unisrec: Path,
    tmp_path: Path,
    redis_url: str,
    redis_prefix: str,
    redis_client: aioredis.Redis,
) -> None:
    folder = tmp_path / "catalogue"
    import_dataset(small_unisrec, folder)
    replace_line(folder / BEHAVIOUR_FILE, 4, "{ not json")
    with pytest.raises(DatasetFormatError):
        _load_one_user_per_round_trip(redis_url, redis_prefix, folder)
    assert await _keys(redis_client, redis_prefix) == set()


async def test_staging_keys_of_a_killed_load_are_cleaned_up(
    small_unisrec: Path,
    tmp_path: Path,
    redis_url: str,
    redis_prefix: str,
    redis_client: aioredis.Redis,
) -> None:
    stale = f"{redis_prefix}:staging:deadbeef:behaviour:{{someone}}"
    await redis_client.rpush(stale, "{}")
    runs = f"{redis_prefix}:staging-runs"
    await redis_client.zadd(runs, {"deadbeef": time.time() - redis_loader.STAGING_TTL_S - 60})
    folder = tmp_path / "catalogue"
    import_dataset(small_unisrec, folder)
    redis_loader.load_behaviour(folder, redis_url, redis_prefix)
    assert not await redis_client.exists(stale, runs)


def test_the_marker_says_what_is_loaded(
    small_unisrec: Path, tmp_path: Path, redis_url: str, redis_prefix: str
) -> None:
    folder = tmp_path / "catalogue"
    import_dataset(small_unisrec, folder)
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        assert redis_loader.loaded_fingerprint(client, redis_prefix) is None
        redis_loader.load_behaviour(folder, redis_url, redis_prefix)
        wanted = redis_loader.catalogue_fingerprint(folder)
        assert redis_loader.loaded_fingerprint(client, redis_prefix) == wanted
    finally:
        keys = list(client.scan_iter(match=f"{redis_prefix}:*"))
        if keys:
            client.delete(*keys)
        client.close()
