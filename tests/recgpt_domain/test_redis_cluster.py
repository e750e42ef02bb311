"""Every store on a Redis Cluster of three masters (each with a replica): the multi-key scripts and
transactions stay in one slot, the dataset loader swaps per slot, and a master's failover loses no write
acknowledged before the replication window."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from loadtest import cluster_failover
from recgpt_domain.behaviour_store import BehaviourStore
from recgpt_domain.catalogue import Interaction, UserHistory
from recgpt_domain.datasets import redis_loader
from recgpt_domain.key_families import family_of
from recgpt_domain.redis_connection import connect, connect_sync, is_cluster
from recgpt_tools import redis_cluster
from recgpt_tools.redis_cluster import LocalCluster
from tests.recgpt_domain.store_writes import write_with_every_store


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    started = redis_cluster.start(tmp_path_factory.mktemp("cluster"))
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture
def prefix() -> str:
    return f"cluster-{uuid.uuid4().hex[:8]}"


def test_the_url_chooses_the_cluster_client(cluster: LocalCluster) -> None:
    assert is_cluster(cluster.url) and not is_cluster("redis://127.0.0.1:6379/0")
    client = connect_sync(cluster.url)
    try:
        assert isinstance(client, redis.RedisCluster)
        assert len(client.get_primaries()) == 3
    finally:
        client.close()


def test_the_cluster_refuses_a_script_whose_keys_span_slots(cluster: LocalCluster) -> None:
    """What the hash tags prevent: without them the events script's keys would be refused like this."""
    client = connect_sync(cluster.url)
    try:
        with pytest.raises(redis.exceptions.RedisClusterException, match="slot"):
            client.eval("return 1", 2, "p:experiments:events", "p:experiments:event-id:e1")
        assert client.eval("return 1", 2, "p:{experiments}:events", "p:{experiments}:event-id:e1") == 1
    finally:
        client.close()


async def test_every_store_writes_and_reads_on_a_cluster(cluster: LocalCluster, prefix: str) -> None:
    client, loader = connect(cluster.url), connect_sync(cluster.url)
    try:
        keys = await write_with_every_store(client, loader, prefix)
        assert keys and all(family_of(key, prefix) for key in keys), sorted(keys)
        behaviour = BehaviourStore(client, prefix)
        # The load replaced the appended user u1 with the catalogue's u2.
        assert await behaviour.recent("u1", 5) == []
        assert [i.item_id for i in await behaviour.recent("u2", 5)] == ["i2"]
        assert await behaviour.users() == {"u2"}
    finally:
        await client.aclose()
        loader.close()


async def test_the_loader_swaps_per_slot_and_removes_users_gone(cluster: LocalCluster, prefix: str) -> None:
    loader = connect_sync(cluster.url)
    users = [f"user-{n}" for n in range(40)]  # spread over the three masters
    try:
        histories = [UserHistory(user_id=u, interactions=[Interaction(item_id=u)]) for u in users]
        redis_loader.load_histories(loader, prefix, histories, "first")
        result = redis_loader.load_histories(loader, prefix, histories[:10], "second")
        assert (result.users, result.removed_users) == (10, 30)
        assert redis_loader.loaded_fingerprint(loader, prefix) == "second"
        keys = {str(key) for key in loader.scan_iter(match=f"{prefix}:*", count=1000)}
    finally:
        loader.close()
    assert not any(":staging:" in key for key in keys), "staging keys were left"
    client = connect(cluster.url)
    try:
        behaviour = BehaviourStore(client, prefix)
        assert await behaviour.users() == set(users[:10])
        assert await behaviour.recent(users[20], 5) == []
        assert [i.item_id for i in await behaviour.recent(users[3], 5)] == [users[3]]
    finally:
        await client.aclose()


@pytest.mark.integration
async def test_a_master_failover_loses_no_write_acknowledged_before_the_window(tmp_path: Path) -> None:
    fresh = redis_cluster.start(tmp_path / "failover")
    try:
        result = await cluster_failover.run(fresh, seconds=8.0, kill_after_s=2.0)
    finally:
        fresh.stop()
    assert result.acknowledged > 100 and result.refused > 0, result
    assert result.lost_outside_window == 0, result
    assert result.recovered_kinds == sorted(cluster_failover.KINDS), "the client did not find the new master"
