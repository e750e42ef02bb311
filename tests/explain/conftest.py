"""The explain service in-process on port 0 with a fake LLM and a real Redis."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from explain.settings import ExplainSettings
from tests.explain.running import Running, serving
from tests.recgpt_serving.llm.fake_openai import FakeOpenAI


@pytest.fixture
def settings(tmp_path: Path, redis_url: str, redis_prefix: str) -> ExplainSettings:
    return ExplainSettings(
        catalogue_dir=tmp_path,
        redis_url=redis_url,
        redis_prefix=redis_prefix,
        port=0,
        metrics_port=0,
        llm_deadline_s=5.0,
    )


@pytest.fixture
async def service(
    settings: ExplainSettings, fake_llm: FakeOpenAI, redis_client: aioredis.Redis
) -> AsyncIterator[Running]:
    async with serving(settings, fake_llm, redis_client) as running:
        yield running
