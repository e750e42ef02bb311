"""The tags service in-process on port 0: fake LLM, real Redis, real embedder, a small catalogue."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager

import pytest
import redis.asyncio as aioredis

from recgpt_domain.category_map import CachedEncoder, CategoryMapper
from recgpt_domain.embedder import Embedder
from recgpt_domain.tag_ranking import Candidates
from recgpt_serving.llm.entity_tokens import EntityTokens
from tests.lab_catalogue import ITEMS
from tests.recgpt_serving.llm.fake_openai import FakeOpenAI
from tests.tags.running import Running, Serve, serving, tags_settings


@pytest.fixture(scope="session")
def mapper(embedder: Embedder) -> CategoryMapper:
    return CategoryMapper(CachedEncoder(embedder, 1000), ITEMS, "leaf_parent")


@pytest.fixture
def serve(
    fake_llm: FakeOpenAI,
    mapper: CategoryMapper,
    redis_url: str,
    redis_prefix: str,
    redis_client: aioredis.Redis,
) -> Serve:
    """`serve(candidates, entities, **settings)`: the tags service with those settings, as an async
    context."""

    def start(
        candidates: Candidates | None = None, entities: EntityTokens | None = None, **overrides: object
    ) -> AbstractAsyncContextManager[Running]:
        settings = tags_settings(redis_url, redis_prefix, **overrides)
        return serving(settings, fake_llm, mapper, redis_client, candidates, entities)

    return start


@pytest.fixture
async def tags(serve: Serve) -> AsyncIterator[Running]:
    async with serve() as running:
        yield running
