"""Users' LLM-made profiles in Redis (interests and tags).

The near-line job writes a profile per user and method; the gateway only reads them, and on a miss queues
the user for a refresh (`recgpt_domain.refresh_queue`). Every profile carries the model, prompt version and
creation time, so a new model or prompt never mixes with old results: a reader that wants a given version
checks `is_current`.
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
