"""The intent service in-process on port 0, with the fake LLM, a real Redis and the small lab catalogue."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from tests.intent.running import Running, serving_intent
from tests.recgpt_serving.llm.fake_openai import FakeOpenAI


@pytest.fixture
async def intent(
    fake_llm: FakeOpenAI, redis_url: str, redis_prefix: str, redis_client: aioredis.Redis
) -> AsyncIterator[Running]:
    async with serving_intent(fake_llm, redis_url, redis_prefix, redis_client) as running:
        yield running
