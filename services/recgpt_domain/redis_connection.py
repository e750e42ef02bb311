"""How every process reaches Redis: one server, or a Redis Cluster (or Valkey cluster), chosen by the URL.

`redis://`, `rediss://` and `unix://` reach one server; `redis+cluster://host:port`
and `rediss+cluster://host:port` reach a cluster through any of its nodes, which tells the client the rest.
Moving to a cluster is this one setting because every multi-key call of a store (a Lua script, a
MULTI/EXEC) names keys that share a hash tag (`{<user>}`, `{experiments}`, ... in
`recgpt_domain.key_families`), so the cluster holds them on one node; `tests/recgpt_domain/
test_redis_cluster.py` runs every store against a three-master cluster and through a master's failover.
"""

from __future__ import annotations

from typing import Any, cast
from urllib.parse import urlsplit, urlunsplit

import redis
import redis.asyncio as aioredis

# The cluster schemes and the plain scheme their client is given.
CLUSTER_SCHEMES = {"redis+cluster": "redis", "rediss+cluster": "rediss"}
# Pings an idle connection before reuse after this long, so a restarted server costs no failed request.
HEALTH_CHECK_INTERVAL_S = 30


class _Cluster(aioredis.RedisCluster):
    """redis-py's cluster client, with one of its internal failures reported as what it is: while a master
    fails over, a command can meet a connection torn down under it, which raises AttributeError inside
    redis-py. As a ConnectionError it gets the callers' Redis error handling (a 503, a retry) instead of a
    500."""

    async def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return await super().execute_command(*args, **kwargs)
        except AttributeError as error:
            raise redis.exceptions.ConnectionError(f"cluster connection lost: {error}") from error


def is_cluster(url: str) -> bool:
    return urlsplit(url).scheme in CLUSTER_SCHEMES


def connect(url: str, **options: Any) -> aioredis.Redis:
    """An asyncio client answering text. A cluster client is typed as `Redis`: it implements the same
    commands and routes each call to the node holding its keys' slot."""
    if is_cluster(url):
        cluster = _Cluster.from_url(_plain(url), decode_responses=True, **options)
        return cast(aioredis.Redis, cluster)
    return aioredis.Redis.from_url(
        url, decode_responses=True, health_check_interval=HEALTH_CHECK_INTERVAL_S, **options
    )


def connect_sync(url: str, **options: Any) -> redis.Redis:
    """The blocking client, for command-line tools and the dataset loader."""
    if is_cluster(url):
        return cast(redis.Redis, redis.RedisCluster.from_url(_plain(url), decode_responses=True, **options))
    return redis.Redis.from_url(url, decode_responses=True, **options)


def _plain(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(scheme=CLUSTER_SCHEMES[parts.scheme]))
