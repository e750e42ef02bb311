"""The judge service in-process with default settings, for its tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from tests.judge.running import Judge, judge_settings, running_judge
from tests.recgpt_serving.llm.fake_openai import FakeOpenAI


@pytest.fixture
async def judge(
    tmp_path: Path, redis_url: str, redis_prefix: str, redis_client: aioredis.Redis, fake_llm: FakeOpenAI
) -> AsyncIterator[Judge]:
    settings = judge_settings(tmp_path, redis_url, redis_prefix)
    async with running_judge(settings, fake_llm, redis_client, redis_prefix) as running:
        yield running
