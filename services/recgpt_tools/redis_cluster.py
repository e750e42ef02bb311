"""A local Redis Cluster (masters with one replica each) from the same redis-server binary, for tests and the
failover benchmark: what a shop's cluster (or Valkey, or a managed one) does, on one machine.

Built with the cluster commands themselves (ADDSLOTS, MEET, REPLICATE) rather than `redis-cli --cluster
create`, so that it needs nothing beside the redis-server the launcher already finds. Each node is durable
as the launcher's single server is (AOF, fsync every second); a master that dies is replaced by its replica
after `node_timeout_ms` and an election.
"""

from __future__ import annotations

import random
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import redis
from redis.crc import key_slot

from recgpt_tools import redis_server
from recgpt_tools.readiness import port_free

SLOTS = 16384
# Each node also listens on its port + this for the cluster bus.
BUS_PORT_OFFSET = 10_000


@dataclass
class Node:
    port: int
    process: subprocess.Popen[bytes]

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, decode_responses=True, socket_timeout=2)


@dataclass
class LocalCluster:
    masters: list[Node]
    replicas: list[Node]
    workdir: Path
    stopped: list[Node] = field(default_factory=list)

    @property
    def url(self) -> str:
        """The URL for `recgpt_domain.redis_connection`: one node; the client finds the rest."""
        return f"redis+cluster://127.0.0.1:{self.masters[0].port}"

    def master_of(self, key: str) -> Node:
        """The node serving `key`'s slot now, as the first live node answering CLUSTER SLOTS sees it."""
        slot = key_slot(key.encode())
        for node in self._live():
            try:
                with node.client() as client:
                    ranges = client.execute_command("CLUSTER", "SLOTS")
            except redis.RedisError:
                continue
            for first, last, serving, *_replicas in ranges:
                if first <= slot <= last:
                    return self._by_port(int(serving[1]))
        raise LookupError(f"no node serves {key}")

    def kill(self, node: Node) -> None:
        """SIGKILL: no shutdown, no last fsync, as a crashed machine."""
        node.process.kill()
        node.process.wait(timeout=10)
        self.stopped.append(node)

    def wait_healthy(self, timeout_s: float) -> None:
        """Until every live node says the cluster is ok and every slot has a live master."""
        _wait(lambda: all(self._ok(node) for node in self._live()), timeout_s, "cluster not healthy")

    def stop(self) -> None:
        for node in self._live():
            node.process.terminate()
        for node in self.masters + self.replicas:
            try:
                node.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                node.process.kill()

    def _live(self) -> list[Node]:
        return [node for node in self.masters + self.replicas if node not in self.stopped]

    def _by_port(self, port: int) -> Node:
        return next(node for node in self.masters + self.replicas if node.port == port)

    def _ok(self, node: Node) -> bool:
        try:
            with node.client() as client:
                info = client.execute_command("CLUSTER", "INFO")
        except redis.RedisError:
            return False
        text = info if isinstance(info, str) else str(info)
        return "cluster_state:ok" in text and "cluster_slots_ok:16384" in text


def start(workdir: Path, masters: int = 3, node_timeout_ms: int = 1000) -> LocalCluster:
    """`masters` masters splitting the slots evenly, each with one replica, ready for writes."""
    nodes = [_start_node(workdir / f"node-{n}", node_timeout_ms) for n in range(masters * 2)]
    cluster = LocalCluster(masters=nodes[:masters], replicas=nodes[masters:], workdir=workdir)
    try:
        _assemble(cluster)
        cluster.wait_healthy(timeout_s=30)
        _wait(lambda: _replicas_synced(cluster), 30, "replicas not in sync")
    except BaseException:
        cluster.stop()
        raise
    return cluster


def _start_node(workdir: Path, node_timeout_ms: int) -> Node:
    workdir.mkdir(parents=True, exist_ok=True)
    port = _free_cluster_port()
    args = redis_server.command(port, workdir, workdir / "redis.log", redis_server.Durability())
    args += [
        "--cluster-enabled", "yes",
        "--cluster-config-file", str(workdir / "nodes.conf"),
        "--cluster-node-timeout", str(node_timeout_ms),
    ]  # fmt: skip
    process = subprocess.Popen(
        args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, start_new_session=True
    )
    redis_server.wait_ready(port, timeout_s=10, process=process)
    return Node(port, process)


def _free_cluster_port() -> int:
    """A free port whose cluster bus port (10,000 above, so at most 55,535) is free too."""
    for _ in range(100):
        port = random.randrange(20_000, 45_000)
        if port_free(port) and port_free(port + BUS_PORT_OFFSET):
            return port
    raise OSError("no free port pair for a cluster node")


def _assemble(cluster: LocalCluster) -> None:
    share = SLOTS // len(cluster.masters)
    for number, node in enumerate(cluster.masters):
        first = number * share
        last = SLOTS - 1 if number == len(cluster.masters) - 1 else first + share - 1
        with node.client() as client:
            client.execute_command("CLUSTER", "ADDSLOTS", *range(first, last + 1))
    with cluster.masters[0].client() as first_node:
        for node in cluster.masters[1:] + cluster.replicas:
            first_node.execute_command("CLUSTER", "MEET", "127.0.0.1", node.port)
    _wait(lambda: _all_known(cluster), 30, "cluster nodes did not meet")
    for master, replica in zip(cluster.masters, cluster.replicas, strict=True):
        with master.client() as client:
            master_id = client.execute_command("CLUSTER", "MYID")
        with replica.client() as client:
            client.execute_command("CLUSTER", "REPLICATE", master_id)


def _all_known(cluster: LocalCluster) -> bool:
    """Whether every node lists every other (REPLICATE needs the master known to the replica)."""
    nodes = cluster.masters + cluster.replicas
    for node in nodes:
        with node.client() as client:
            if len(str(client.execute_command("CLUSTER", "NODES")).strip().splitlines()) < len(nodes):
                return False
    return True


def _replicas_synced(cluster: LocalCluster) -> bool:
    for node in cluster.replicas:
        with node.client() as client:
            if client.info("replication").get("master_link_status") != "up":
                return False
    return True


def _wait(condition: Callable[[], bool], timeout_s: float, failure: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise TimeoutError(f"{failure} after {timeout_s} s")
