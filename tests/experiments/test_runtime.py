"""The config held in process: seeded from YAML once, changed through one gateway, followed by the others,
and still followed after Redis comes back empty."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis.asyncio as aioredis
import yaml  # type: ignore[import-untyped]

from experiments.config import ConfigProblems, ExperimentConfig, check
from experiments.runtime import RESTORED, ExperimentRuntime
from experiments.store import ConfigStore
from tests.experiments.configs import VARIANTS, config, two_arms

REPO_CONFIG = Path(__file__).resolve().parents[2] / "deploy" / "experiments.yaml"
KILLED = config(two_arms(enabled=False))


def runtime(client: aioredis.Redis, prefix: str) -> ExperimentRuntime:
    return ExperimentRuntime(ConfigStore(client, prefix), VARIANTS, refresh_s=0.05, redis_timeout_s=0.5)


async def wipe(client: aioredis.Redis, prefix: str) -> None:
    """What a Redis restarted without its data looks like to this deployment."""
    keys = [key async for key in client.scan_iter(match=f"{prefix}:*", count=1000)]
    if keys:
        await client.delete(*keys)


async def test_seed_change_and_follow(
    redis_client: aioredis.Redis, redis_prefix: str, tmp_path: Path
) -> None:
    first, second = runtime(redis_client, redis_prefix), runtime(redis_client, redis_prefix)
    await first.seed(REPO_CONFIG)
    await second.seed(REPO_CONFIG)  # Redis holds one already: not stored again
    seeded = first.revision
    assert seeded > 0 and second.revision == seeded and first.origin == 0
    assert [c["revision"] for c in await first.store.history()] == [seeded]
    revision = await first.apply(config(two_arms()), "test")
    assert revision > seeded and first.assign("u1").arms
    await second.refresh()
    assert second.revision == revision and second.assign("u1").arms == first.assign("u1").arms
    bad = config(two_arms(control="ghost"))
    with pytest.raises(ConfigProblems):
        await first.apply(bad, "test")
    assert first.revision == revision and (await first.store.current()) is not None


async def test_after_a_wipe_the_next_change_reaches_every_replica(
    redis_client: aioredis.Redis, redis_prefix: str
) -> None:
    first, second = runtime(redis_client, redis_prefix), runtime(redis_client, redis_prefix)
    await first.seed(REPO_CONFIG)
    await second.seed(REPO_CONFIG)
    served = await first.apply(config(two_arms()), "admin-api")
    await second.refresh()
    assert second.revision == served

    await wipe(redis_client, redis_prefix)
    # The kill switch, through the replica that did not take the last change: a revision above any served.
    killed = await second.apply(KILLED, "admin-api")
    assert killed > served
    await first.refresh()
    assert first.revision == killed and not first.assign("u1").arms
    assert [c["revision"] for c in await first.store.history()] == [killed]


async def test_a_replica_writes_its_config_back_into_an_empty_store(
    redis_client: aioredis.Redis, redis_prefix: str
) -> None:
    first, second = runtime(redis_client, redis_prefix), runtime(redis_client, redis_prefix)
    await first.seed(REPO_CONFIG)
    await second.seed(REPO_CONFIG)
    served = await first.apply(KILLED, "admin-api")
    await second.refresh()

    await wipe(redis_client, redis_prefix)
    await first.refresh()
    stored = await first.store.current()
    assert stored is not None and stored.revision > served
    assert stored.origin == served and stored.source == RESTORED + "admin-api"
    assert stored.config == KILLED and first.revision == stored.revision
    await second.refresh()  # takes the write-back: a new revision, the same config
    assert second.revision == stored.revision and not second.assign("u1").arms


async def test_a_yaml_seeded_after_a_wipe_does_not_undo_the_last_change(
    redis_client: aioredis.Redis, redis_prefix: str
) -> None:
    old = runtime(redis_client, redis_prefix)
    await old.seed(REPO_CONFIG)
    served = await old.apply(KILLED, "admin-api")

    await wipe(redis_client, redis_prefix)
    new = runtime(redis_client, redis_prefix)
    await new.seed(REPO_CONFIG)  # a gateway started meanwhile: the file, under a newer revision
    assert new.revision > served and new.origin == 0
    await old.refresh()  # an older origin than its own: it writes its config back above the file's
    assert old.revision > new.revision and old.origin == served
    await new.refresh()
    assert new.revision == old.revision and new.assigner.config == KILLED


async def test_the_latest_change_wins_when_a_lagging_replica_writes_back_first(
    redis_client: aioredis.Redis, redis_prefix: str
) -> None:
    lagging, latest = runtime(redis_client, redis_prefix), runtime(redis_client, redis_prefix)
    await lagging.seed(REPO_CONFIG)
    older = await lagging.apply(config(two_arms()), "admin-api")
    await latest.refresh()
    newer = await latest.apply(KILLED, "admin-api")  # wiped before `lagging` refreshed

    await wipe(redis_client, redis_prefix)
    await lagging.refresh()
    assert lagging.origin == older
    await latest.refresh()
    await lagging.refresh()
    assert lagging.origin == latest.origin == newer
    assert lagging.revision == latest.revision and lagging.assigner.config == KILLED


async def test_a_replica_never_goes_back_to_a_lower_revision(
    redis_client: aioredis.Redis, redis_prefix: str
) -> None:
    replica = runtime(redis_client, redis_prefix)
    served = await replica.apply(KILLED, "admin-api")

    def document(revision: int, origin: int) -> str:
        return f'{{"revision":{revision},"origin":{origin},"saved_at":0,"source":"x","config":{{}}}}'

    # A lower revision of a later origin (only a Redis whose clock went back gives one): not taken.
    await redis_client.set(replica.store.config_key, document(served - 5, served + 1))
    await replica.refresh()
    assert replica.revision == served and replica.assigner.config == KILLED
    # A lower revision of an older origin (what a restore from an old copy gives): its own written back.
    await redis_client.set(replica.store.config_key, document(served - 5, served - 5))
    await replica.refresh()
    stored = await replica.store.current()
    assert stored is not None and stored.revision == replica.revision > served
    assert stored.config == replica.assigner.config == KILLED


def test_the_repository_config_is_valid() -> None:
    check(ExperimentConfig.model_validate(yaml.safe_load(REPO_CONFIG.read_text())), VARIANTS)
