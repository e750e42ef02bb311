"""Users' LLM-made profiles in Redis (interests and tags), and the queue of users whose profile is due.

The near-line job writes a profile per user and method; the gateway only reads them, and on a miss queues
the user for a refresh. Every profile carries the model, prompt version and creation time, so a new model or
prompt never mixes with old results: a reader that wants a given version checks `is_current`.
"""

from __future__ import annotations

import time

import redis.asyncio as aioredis
from pydantic import BaseModel, Field, ValidationError

METHOD_V1 = "recgpt-v1"


class ProfileInterest(BaseModel):
    interest: str
    reason: str = ""


class ProfileTag(BaseModel):
    tag: str
    interest: str = ""
    rationale: str = ""
    category: str = ""
    category_score: float = 0.0


class UserProfile(BaseModel):
    user_id: str = Field(min_length=1)
    method: str = METHOD_V1
    interests: list[ProfileInterest]
    tags: list[ProfileTag]
    model: str
    # The prompt versions of every agent that contributed, e.g. "interests=v1.0;tags=v1.0".
    prompt_version: str
    created_at_unix: int = Field(default_factory=lambda: int(time.time()))
    # True when an agent fell back to its non-LLM answer for this user.
    fallback: bool = False

    def is_current(self, model: str, prompt_version: str, max_age_s: float, now: float | None = None) -> bool:
        """Made by this model and these prompts, and younger than `max_age_s`."""
        age = (time.time() if now is None else now) - self.created_at_unix
        return self.model == model and self.prompt_version == prompt_version and age < max_age_s


class ProfileKeys:
    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    def profile(self, method: str, user_id: str) -> str:
        return f"{self.prefix}:profile:{method}:{user_id}"

    def refresh_queue(self, method: str) -> str:
        return f"{self.prefix}:refresh:{method}"

    def refresh_pending(self, method: str) -> str:
        """Users already queued, so that a burst of misses queues each user once."""
        return f"{self.prefix}:refresh:{method}:pending"


class ProfileStore:
    def __init__(self, client: aioredis.Redis, prefix: str, ttl_s: int = 30 * 24 * 3600) -> None:
        self.client = client
        self.keys = ProfileKeys(prefix)
        self.ttl_s = ttl_s

    async def get(self, user_id: str, method: str = METHOD_V1) -> UserProfile | None:
        """The stored profile; None when there is none or it no longer parses (treated as a miss)."""
        raw = await self.client.get(self.keys.profile(method, user_id))
        if raw is None:
            return None
        try:
            return UserProfile.model_validate_json(raw)
        except ValidationError:
            return None

    async def put(self, profile: UserProfile) -> None:
        key = self.keys.profile(profile.method, profile.user_id)
        await self.client.set(key, profile.model_dump_json(), ex=self.ttl_s)

    async def request_refresh(self, user_id: str, method: str = METHOD_V1) -> bool:
        """Queues the user once (until taken); True when this call queued them."""
        added = await self.client.sadd(self.keys.refresh_pending(method), user_id)
        if added:
            await self.client.rpush(self.keys.refresh_queue(method), user_id)
        return bool(added)

    async def take_refresh(self, count: int, method: str = METHOD_V1, wait_s: float = 0) -> list[str]:
        """Up to `count` queued users, oldest first; waits up to `wait_s` for the first when empty."""
        queue = self.keys.refresh_queue(method)
        popped: list[str] | None = await self.client.lpop(queue, count)  # type: ignore[assignment]
        taken = list(popped or [])
        if not taken and wait_s > 0:
            blocked: tuple[str, str] | None = await self.client.blpop([queue], timeout=wait_s)  # type: ignore[assignment]
            if blocked is not None:
                taken = [blocked[1]]
        if taken:
            await self.client.srem(self.keys.refresh_pending(method), *taken)
        return taken

    async def queued(self, method: str = METHOD_V1) -> int:
        return int(await self.client.llen(self.keys.refresh_queue(method)))
