"""The tags service in-process on port 0: fake LLM, real Redis, real embedder, a small catalogue."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
import redis.asyncio as aioredis

from recgpt.tags.v1 import tags_pb2_grpc
from recgpt_domain.behaviour_store import BehaviourStore
from recgpt_domain.catalogue import Item
from recgpt_domain.embedder import Embedder, load_bundled
from recgpt_serving.agent_runner import AgentDeps
from recgpt_serving.llm.client import LlmClient, LlmSettings
from tags.category_map import CachedEncoder, CategoryMapper
from tags.main import registration
from tags.ranking import Candidates
from tags.settings import TagsSettings
from tests.recgpt_serving.llm.fake_openai import FakeOpenAI

SCI = "Industrial & Scientific"
LAB = "Lab & Scientific Products"

ITEMS = [
    Item(item_id="m1", title="Compound light microscope with LED illumination", brand="AmScope",
         category_path=[SCI, LAB, "Microscopes"]),
    Item(item_id="m2", title="Digital USB microscope camera", brand="Celestron",
         category_path=[SCI, LAB, "Microscopes"]),
    Item(item_id="b1", title="Borosilicate glass beaker set, 250 ml", brand="Pyrex",
         category_path=[SCI, LAB, "Beakers"]),
    Item(item_id="p1", title="Adjustable volume micropipette, 10-100 ul", brand="Eppendorf",
         category_path=[SCI, LAB, "Pipettes"]),
    Item(item_id="g1", title="Super glue gel, clear, fast drying", brand="Gorilla",
         category_path=[SCI, "Tapes, Adhesives & Sealants", "Glues"]),
    Item(item_id="s1", title="Hook and loop sanding discs, 120 grit", brand="3M",
         category_path=[SCI, "Abrasive & Finishing Products", "Sanding Discs"]),
    Item(item_id="n1", title="Nitrile disposable gloves, box of 100", brand="Medline",
         category_path=[SCI, "Occupational Health & Safety Products", "Gloves"]),
    Item(item_id="t1", title="Digital multimeter voltage tester", brand="Fluke",
         category_path=[SCI, "Test, Measure & Inspect", "Multimeters"]),
    Item(item_id="f1", title="PLA 3D printer filament, 1.75 mm, 1 kg", brand="HATCHBOX",
         category_path=[SCI, "Additive Manufacturing Products", "3D Printing Filament"]),
]  # fmt: skip


@dataclass
class Running:
    stub: tags_pb2_grpc.TagsServiceStub
    store: BehaviourStore
    llm: FakeOpenAI
    settings: TagsSettings


def tags_settings(redis_url: str, redis_prefix: str, **overrides: object) -> TagsSettings:
    values: dict[str, object] = {
        "catalogue_dir": Path("/nonexistent"),  # the items come in through AgentDeps
        "redis_url": redis_url,
        "redis_prefix": redis_prefix,
        "port": 0,
        "metrics_port": 0,
        **overrides,
    }
    return TagsSettings(**values)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    """The bundled all-MiniLM-L6-v2; loading takes seconds, so once per session."""
    return load_bundled(batch_size=32, device="cpu")


@pytest.fixture(scope="session")
def mapper(embedder: Embedder) -> CategoryMapper:
    return CategoryMapper(CachedEncoder(embedder, 1000), ITEMS, "leaf_parent")


@asynccontextmanager
async def serving(
    settings: TagsSettings,
    fake_llm: FakeOpenAI,
    mapper: CategoryMapper,
    redis_client: aioredis.Redis,
    candidates: Candidates | None = None,
) -> AsyncIterator[Running]:
    """The tags service with these settings on a free port, until the block ends."""
    store = BehaviourStore(redis_client, settings.redis_prefix)
    llm = LlmClient(LlmSettings(endpoints=[fake_llm.base_url]))
    deps = AgentDeps(llm=llm, store=store, items={item.item_id: item for item in ITEMS})
    service = registration(settings, deps, mapper, candidates)
    server = grpc.aio.server()
    service.add_to_server(service.servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    try:
        yield Running(
            tags_pb2_grpc.TagsServiceStub(channel),  # type: ignore[no-untyped-call]
            store,
            fake_llm,
            settings,
        )
    finally:
        await channel.close()
        await server.stop(0)
        await llm.aclose()


@pytest.fixture
def serve(
    fake_llm: FakeOpenAI,
    mapper: CategoryMapper,
    redis_url: str,
    redis_prefix: str,
    redis_client: aioredis.Redis,
) -> Callable[..., AbstractAsyncContextManager[Running]]:
    """`serve(candidates, **settings)`: the tags service with those settings, as an async context."""

    def start(
        candidates: Candidates | None = None, **overrides: object
    ) -> AbstractAsyncContextManager[Running]:
        settings = tags_settings(redis_url, redis_prefix, **overrides)
        return serving(settings, fake_llm, mapper, redis_client, candidates)

    return start


@pytest.fixture
async def tags(serve: Callable[..., AbstractAsyncContextManager[Running]]) -> AsyncIterator[Running]:
    async with serve() as running:
        yield running
