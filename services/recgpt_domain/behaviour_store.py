"""Users' behaviour in Redis: the chronological log and the set of items each user has touched."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import redis.asyncio as aioredis
from redis.asyncio.client import Pipeline

from recgpt_domain.catalogue import Interaction, UserHistory


class BehaviourKeys:
    """Key names, in one place; `prefix` separates deployments (and test runs) sharing a Redis."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    def log(self, user_id: str) -> str:
        return f"{self.prefix}:behaviour:{{{user_id}}}"

    def seen(self, user_id: str) -> str:
        return f"{self.prefix}:seen:{{{user_id}}}"

    def users(self) -> str:
        return f"{self.prefix}:{{catalogue}}:users"


@dataclass(frozen=True)
class RecentBehaviour:
    """What a route needs of a user: recent distinct items (most recent first) and every item touched."""

    recent_item_ids: list[str]
    seen: set[str]


class BehaviourStore:
    def __init__(self, client: aioredis.Redis, prefix: str) -> None:
        self.client = client
        self.keys = BehaviourKeys(prefix)

    async def recent(self, user_id: str, limit: int) -> list[Interaction]:
        """The user's `limit` most recent interactions, most recent first."""
        raw = await self.client.lrange(self.keys.log(user_id), -limit, -1)
        return [Interaction.model_validate_json(entry) for entry in reversed(raw)]

    async def seen(self, user_id: str) -> set[str]:
        members = await self.client.smembers(self.keys.seen(user_id))
        return {m.decode() if isinstance(m, bytes) else m for m in members}

    async def users(self) -> set[str]:
        """Every user with a behaviour log (scanned in batches, so a large set does not block Redis)."""
        members = [m async for m in self.client.sscan_iter(self.keys.users(), count=1000)]
        return {m.decode() if isinstance(m, bytes) else str(m) for m in members}

    async def known(self, user_id: str) -> bool:
        return bool(await self.client.sismember(self.keys.users(), user_id))

    async def append(self, user_id: str, interactions: Iterable[Interaction]) -> None:
        batch = list(interactions)
        if not batch:
            return
        # The log and the seen set share the user's hash tag (one transaction, on one cluster node); the
        # users set lives elsewhere and is written after them, so a user in it always has a log.
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.rpush(self.keys.log(user_id), *(i.model_dump_json() for i in batch))
            pipe.sadd(self.keys.seen(user_id), *(i.item_id for i in batch))
            await pipe.execute()
        await self.client.sadd(self.keys.users(), user_id)

    async def history(self, user_id: str) -> UserHistory:
        raw = await self.client.lrange(self.keys.log(user_id), 0, -1)
        return UserHistory(user_id=user_id, interactions=[Interaction.model_validate_json(e) for e in raw])

    async def recent_and_seen(self, user_id: str, recent: int) -> RecentBehaviour:
        """The `recent` most recent distinct items and the seen set, pipelined into one round trip."""
        async with self.client.pipeline(transaction=False) as pipe:
            self.queue_recent_and_seen(pipe, user_id, recent)
            raw_log, raw_seen = await pipe.execute()
        return parse_recent_and_seen(raw_log, raw_seen, recent)

    def queue_recent_and_seen(self, pipe: Pipeline, user_id: str, recent: int) -> None:
        """Queues the reads of `recent_and_seen` on a caller's pipeline (two replies, in this order)."""
        # Read a few more entries than asked: repeats of one item would otherwise crowd out the others.
        pipe.lrange(self.keys.log(user_id), -recent * 2, -1)
        pipe.smembers(self.keys.seen(user_id))

    async def seen_among(self, user_id: str, item_ids: Sequence[str]) -> list[bool]:
        """For each item in order, whether the user has touched it (one round trip)."""
        if not item_ids:
            return []
        flags = await self.client.smismember(self.keys.seen(user_id), list(item_ids))
        return [bool(flag) for flag in flags]


def parse_recent_and_seen(
    raw_log: Sequence[str | bytes], raw_seen: Iterable[str | bytes], recent: int
) -> RecentBehaviour:
    ordered: dict[str, None] = {}
    for entry in reversed(raw_log):
        ordered.setdefault(Interaction.model_validate_json(_text(entry)).item_id, None)
        if len(ordered) == recent:
            break
    return RecentBehaviour(list(ordered), {_text(member) for member in raw_seen})


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value
