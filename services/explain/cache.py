"""Explanations in Redis per (method, model and adapter, prompt version, interest, item), and for RecGPT-V2
the situation kind its style guideline was written for.

The near-line job fills it through the explain service; the online path only reads it (`cache_only`).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence

import redis.asyncio as aioredis
from pydantic import BaseModel, Field, ValidationError

from recgpt_serving import metrics


class CachedExplanation(BaseModel):
    text: str
    interest: str
    item_id: str
    model: str
    # The LoRA adapter on top of `model`; empty for the base model.
    adapter: str = ""
    prompt_version: str
    created_at_unix: int = Field(default_factory=lambda: int(time.time()))
    fallback: bool = False
    # RecGPT-V2: the style guideline the text was written to; empty for V1 and for V2's next-best path.
    style: str = ""
    # Written by the V1 path for a V2 request: kept as briefly as a fallback, so V2 is retried soon.
    next_best: bool = False


def normalise_interest(interest: str) -> str:
    return " ".join(interest.lower().split())


class ExplanationCache:
    """Keys carry the model, adapter and prompt version, so a new one never reads old explanations."""

    def __init__(self, client: aioredis.Redis, prefix: str, ttl_s: int, fallback_ttl_s: int) -> None:
        self.client = client
        self.prefix = prefix
        self.ttl_s = ttl_s
        self.fallback_ttl_s = fallback_ttl_s

    def key(
        self,
        method: str,
        model: str,
        adapter: str,
        prompt_version: str,
        interest: str,
        item_id: str,
        situation_kind: str = "",
    ) -> str:
        """`situation_kind` (RecGPT-V2: recgpt_domain.situation.Situation.kind) joins the interest's digest:
        a guideline is written for the interest, the item and the situation."""
        digest = hashlib.sha1(normalise_interest(interest).encode()).hexdigest()[:16]
        if situation_kind:
            digest = f"{digest}.{situation_kind}"
        # The base model's keys stay as they were before adapters, so its cached entries remain readable.
        served = f"{model}@{adapter}" if adapter else model
        return f"{self.prefix}:explain:{method}:{served}:{prompt_version}:{digest}:{item_id}"

    async def get_many(self, keys: Sequence[str]) -> list[CachedExplanation | None]:
        """One pipelined round of GETs (not MGET: the items' keys lie in different Redis Cluster slots, and a
        pipeline is split per node where MGET would be refused); an entry that no longer parses is a miss."""
        if not keys:
            return []
        async with self.client.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.get(key)
            raw = await pipe.execute()
        found: list[CachedExplanation | None] = []
        for value in raw:
            entry = None
            if value is not None:
                try:
                    entry = CachedExplanation.model_validate_json(value)
                except ValidationError:
                    entry = None
            metrics.CACHE_REQUESTS.labels("explanation", "hit" if entry else "miss").inc()
            found.append(entry)
        return found

    async def put_many(self, entries: Sequence[tuple[str, CachedExplanation]]) -> None:
        """Fallbacks live shorter: the near-line job retries them later, but not on every pass."""
        if not entries:
            return
        async with self.client.pipeline(transaction=False) as pipe:
            for key, entry in entries:
                ttl = self.fallback_ttl_s if entry.fallback or entry.next_best else self.ttl_s
                pipe.set(key, entry.model_dump_json(), ex=ttl)
            await pipe.execute()
