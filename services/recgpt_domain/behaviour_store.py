"""Users' behaviour in Redis: the chronological log and the set of items each user has touched."""

from __future__ import annotations

from collections.abc import Iterable

import redis.asyncio as aioredis

from recgpt_domain.catalogue import Interaction, UserHistory


class BehaviourKeys:
    """Key names, in one place; `prefix` separates deployments (and test runs) sharing a Redis."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    def log(self, user_id: str) -> str:
        return f"{self.prefix}:behaviour:{user_id}"

    def seen(self, user_id: str) -> str:
        return f"{self.prefix}:seen:{user_id}"

    def users(self) -> str:
        return f"{self.prefix}:users"


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
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.rpush(self.keys.log(user_id), *(i.model_dump_json() for i in batch))
            pipe.sadd(self.keys.seen(user_id), *(i.item_id for i in batch))
            pipe.sadd(self.keys.users(), user_id)
            await pipe.execute()

    async def history(self, user_id: str) -> UserHistory:
        raw = await self.client.lrange(self.keys.log(user_id), 0, -1)
        return UserHistory(user_id=user_id, interactions=[Interaction.model_validate_json(e) for e in raw])


def connect(url: str) -> aioredis.Redis:
    return aioredis.Redis.from_url(url, decode_responses=True, health_check_interval=30)
