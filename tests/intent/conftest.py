"""The intent service in-process on port 0, with the fake LLM, a real Redis and a small catalogue."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
import redis.asyncio as aioredis

from intent.main import build
from intent.settings import IntentSettings
from recgpt.intent.v1 import intent_pb2_grpc
from recgpt_domain.behaviour_store import BehaviourStore
from recgpt_domain.catalogue import Item
from recgpt_serving.agent_runner import AgentDeps
from recgpt_serving.llm.client import LlmClient, LlmSettings
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
    Item(item_id="g1", title="Super glue gel, clear, fast drying", brand="Gorilla",
         category_path=[SCI, "Tapes, Adhesives & Sealants", "Glues"]),
    Item(item_id="x1", title="Mystery item without a category"),
]  # fmt: skip


@dataclass
class Running:
    stub: intent_pb2_grpc.IntentServiceStub
    store: BehaviourStore
    llm: FakeOpenAI
    settings: IntentSettings


def intent_settings(redis_url: str, redis_prefix: str, **overrides: object) -> IntentSettings:
    values: dict[str, object] = {
        "catalogue_dir": Path("/nonexistent"),  # the items come in through AgentDeps
        "redis_url": redis_url,
        "redis_prefix": redis_prefix,
        "port": 0,
        "metrics_port": 0,
        **overrides,
    }
    return IntentSettings(**values)  # type: ignore[arg-type]


@pytest.fixture
async def intent(
    fake_llm: FakeOpenAI, redis_url: str, redis_prefix: str, redis_client: aioredis.Redis
) -> AsyncIterator[Running]:
    settings = intent_settings(redis_url, redis_prefix)
    store = BehaviourStore(redis_client, redis_prefix)
    llm = LlmClient(LlmSettings(endpoints=[fake_llm.base_url]))
    registration = build(settings, AgentDeps(llm=llm, store=store, items={i.item_id: i for i in ITEMS}))
    server = grpc.aio.server()
    registration.add_to_server(registration.servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    try:
        yield Running(
            intent_pb2_grpc.IntentServiceStub(channel),  # type: ignore[no-untyped-call]
            store,
            fake_llm,
            settings,
        )
    finally:
        await channel.close()
        await server.stop(0)
        await llm.aclose()
