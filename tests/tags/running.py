"""The tags service as its tests start and call it: settings for a test, the service in-process on a free
port, and a PredictTags request."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import redis.asyncio as aioredis

from recgpt.common.v1 import common_pb2
from recgpt.tags.v1 import tags_pb2, tags_pb2_grpc
from recgpt_domain.behaviour_store import BehaviourStore
from recgpt_domain.category_map import CategoryMapper
from recgpt_domain.tag_ranking import Candidates
from recgpt_serving.agent_runner import AgentDeps
from recgpt_serving.llm.client import LlmClient, LlmSettings
from recgpt_serving.llm.entity_tokens import EntityTokens
from tags.main import registration
from tags.settings import TagsSettings
from tests.grpc_servers import serving as serving_grpc
from tests.lab_catalogue import ITEMS
from tests.recgpt_serving.llm.fake_openai import FakeOpenAI

INTERESTS = ["microscopy", "lab glassware"]


@dataclass
class Running:
    stub: tags_pb2_grpc.TagsServiceStub
    store: BehaviourStore
    llm: FakeOpenAI
    settings: TagsSettings


# The `serve` fixture: `serve(candidates, **settings)` starts the service with those settings.
Serve = Callable[..., AbstractAsyncContextManager[Running]]


def tags_settings(redis_url: str, redis_prefix: str, **overrides: object) -> TagsSettings:
    values: dict[str, object] = {
        "catalogue_dir": Path("/nonexistent"),  # the items come in through AgentDeps
        "redis_url": redis_url,
        "redis_prefix": redis_prefix,
        "port": 0,
        "metrics_port": 0,
        # Most tests here are about the LLM writing tags; choose mode's pass it.
        "tag_mode": "generate",
        **overrides,
    }
    return TagsSettings(**values)  # type: ignore[arg-type]


@asynccontextmanager
async def serving(
    settings: TagsSettings,
    fake_llm: FakeOpenAI,
    mapper: CategoryMapper,
    redis_client: aioredis.Redis,
    candidates: Candidates | None = None,
    entities: EntityTokens | None = None,
) -> AsyncIterator[Running]:
    """The tags service with these settings on a free port, until the block ends."""
    store = BehaviourStore(redis_client, settings.redis_prefix)
    llm = LlmClient(LlmSettings(endpoints=[fake_llm.base_url]))
    try:
        items = {item.item_id: item for item in ITEMS}
        deps = AgentDeps(llm=llm, store=store, items=items, entities=entities)
        async with (
            serving_grpc(registration(settings, deps, mapper, candidates), name="tags") as served,
            grpc.aio.insecure_channel(served.target) as channel,
        ):
            stub = tags_pb2_grpc.TagsServiceStub(channel)  # type: ignore[no-untyped-call]
            yield Running(stub, store, fake_llm, settings)
    finally:
        await llm.aclose()


def behaviour(*item_ids: str) -> list[common_pb2.Interaction]:
    return [common_pb2.Interaction(item_id=item, timestamp=1_000 + n) for n, item in enumerate(item_ids)]


def predict(*item_ids: str, interests: list[str] | None = None, **fields: Any) -> tags_pb2.PredictTagsRequest:
    return tags_pb2.PredictTagsRequest(
        user_id="u1",
        interests=[common_pb2.Interest(interest=i) for i in (INTERESTS if interests is None else interests)],
        behaviour=behaviour(*item_ids),
        **fields,
    )
