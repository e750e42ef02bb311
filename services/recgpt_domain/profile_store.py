"""Users' LLM-made profiles in Redis (interests and tags).

The near-line job writes a profile per user and method; the gateway only reads them, and on a miss queues
the user for a refresh (`recgpt_domain.refresh_queue`). Every profile carries the model, prompt version and
creation time, so a new model or prompt never mixes with old results: a reader that wants a given version
checks `is_current`.

A profile that an agent's non-LLM fallback answered (interests or tags) says so, and what produced each part.
It is never passed off as an LLM profile: it goes stale after hours, not weeks, and leaves Redis then, so
the next request for the user misses and queues a refresh.
"""

from __future__ import annotations

import time

import redis.asyncio as aioredis
from pydantic import BaseModel, Field, ValidationError

METHOD_V1 = "recgpt-v1"
# RecGPT-V2's profiles (planner -> experts -> arbiter), kept beside V1's under their own key.
METHOD_V2 = "recgpt-v2"
# A profile made by the LLM is refreshed after this (the paper refreshes interests every two weeks) ...
LLM_PROFILE_MAX_AGE_S = 14 * 24 * 3600
# ... and kept in Redis this long, so that serving still has it while the near-line job catches up.
LLM_PROFILE_TTL_S = 30 * 24 * 3600
# A profile from fallback answers is stale, and leaves Redis, after this: the LLM is asked again soon.
FALLBACK_PROFILE_TTL_S = 6 * 3600


class ProfileInterest(BaseModel):
    interest: str
    reason: str = ""


class ProfileTag(BaseModel):
    tag: str
    interest: str = ""
    rationale: str = ""
    category: str = ""
    category_score: float = 0.0


class PartSource(BaseModel):
    """What produced one part of a profile: the model and adapter asked, or the fallback that answered."""

    model: str = ""
    # The LoRA adapter served on top of `model`; empty for the base model.
    adapter: str = ""
    prompt_version: str = ""
    # True when the agent's non-LLM fallback answered (then model and adapter say what was asked for).
    fallback: bool = False


class UserProfile(BaseModel):
    user_id: str = Field(min_length=1)
    method: str = METHOD_V1
    interests: list[ProfileInterest]
    tags: list[ProfileTag]
    model: str
    # The prompt versions of every agent that contributed, e.g. "interests=v1.0;tags=v1.0".
    prompt_version: str
    created_at_unix: int = Field(default_factory=lambda: int(time.time()))
    # True when an agent's non-LLM fallback answered a part of the profile (interests or tags).
    fallback: bool = False
    # What produced each part, by part ("interests", "tags"); empty in profiles written before it existed.
    sources: dict[str, PartSource] = Field(default_factory=dict)

    @property
    def fallback_parts(self) -> list[str]:
        """The parts a fallback answered, e.g. ["tags"]."""
        return [part for part, source in self.sources.items() if source.fallback]

    def is_current(
        self,
        model: str,
        prompt_version: str,
        max_age_s: float,
        fallback_max_age_s: float = FALLBACK_PROFILE_TTL_S,
        now: float | None = None,
    ) -> bool:
        """Made by this model and these prompts, and younger than `max_age_s` (`fallback_max_age_s`, when
        shorter, for a profile from fallback answers)."""
        age = (time.time() if now is None else now) - self.created_at_unix
        limit = min(max_age_s, fallback_max_age_s) if self.fallback else max_age_s
        return self.model == model and self.prompt_version == prompt_version and age < limit


class ProfileKeys:
    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    def profile(self, method: str, user_id: str) -> str:
        return f"{self.prefix}:profile:{method}:{user_id}"


class ProfileStore:
    def __init__(
        self,
        client: aioredis.Redis,
        prefix: str,
        ttl_s: float = LLM_PROFILE_TTL_S,
        fallback_ttl_s: float = FALLBACK_PROFILE_TTL_S,
    ) -> None:
        self.client = client
        self.keys = ProfileKeys(prefix)
        self.ttl_s = ttl_s
        self.fallback_ttl_s = fallback_ttl_s

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
        """Stores the profile; one from fallback answers expires after `fallback_ttl_s`."""
        key = self.keys.profile(profile.method, profile.user_id)
        ttl_s = min(self.ttl_s, self.fallback_ttl_s) if profile.fallback else self.ttl_s
        await self.client.set(key, profile.model_dump_json(), px=max(1, round(ttl_s * 1000)))
