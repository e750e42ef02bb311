"""Category texts, the service's start-up (categories embedded once), and the encoder cache under threads."""

from __future__ import annotations

import random
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from recgpt_domain.behaviour_store import BehaviourStore
from recgpt_domain.catalogue import Item
from recgpt_domain.category_map import CachedEncoder, CategoryMapper, category_texts
from recgpt_domain.embedder import Vectors
from recgpt_serving.agent_runner import AgentDeps
from recgpt_serving.llm.client import LlmClient, LlmSettings
from tags.main import build
from tests.lab_catalogue import WITH_UNCATEGORISED as ITEMS_BY_ID
from tests.tags.running import tags_settings

DIMENSION = 4
# Three times the cache's capacity: nearly every call evicts what another thread is about to read.
TEXTS = [f"tag number {n}" for n in range(12)]
CAPACITY = 4
ROWS = {text: np.full(DIMENSION, n, dtype=np.float32) for n, text in enumerate(TEXTS)}


def test_category_texts_name_the_most_frequent_parent() -> None:
    items = [
        Item(item_id="a", title="t", category_path=["Lab", "Accessories"]),
        Item(item_id="b", title="t", category_path=["Tools", "Accessories"]),
        Item(item_id="c", title="t", category_path=["Tools", "Accessories"]),
        Item(item_id="d", title="t", category_path=["Gloves"]),
        Item(item_id="e", title="t"),
    ]
    assert category_texts(items, "leaf_parent") == {"Accessories": "Accessories (Tools)", "Gloves": "Gloves"}
    assert category_texts(items, "leaf") == {"Accessories": "Accessories", "Gloves": "Gloves"}


async def test_build_embeds_the_catalogue_categories(redis_url: str, redis_prefix: str) -> None:
    settings = tags_settings(redis_url, redis_prefix, catalogue_dir=Path("/catalogue"))
    llm = LlmClient(LlmSettings(endpoints=["http://127.0.0.1:9/v1"]))
    store = BehaviourStore(None, redis_prefix)  # type: ignore[arg-type]
    try:
        registration = build(settings, AgentDeps(llm=llm, store=store, items=ITEMS_BY_ID))
        assert registration.full_service_name == "recgpt.tags.v1.TagsService"
        assert len(registration.servicer.mapper) == 8
        with pytest.raises(RuntimeError, match="no categories"):
            build(settings, AgentDeps(llm=llm, store=store, items={"x1": ITEMS_BY_ID["x1"]}))
    finally:
        await llm.aclose()


class TableEmbedder:
    """The same text always gives the same row, so a row handed to the wrong text shows."""

    model_name = "table"
    dimension = DIMENSION

    def encode(self, texts: Sequence[str]) -> Vectors:
        return np.stack([ROWS[text] for text in texts])


def hammer(encoder: CachedEncoder, seed: int, calls: int) -> int:
    """Encodes small random batches and checks every row; returns how many rows were checked."""
    rng = random.Random(seed)
    checked = 0
    for _ in range(calls):
        batch = rng.sample(TEXTS, rng.randint(1, 2))
        rows = encoder.encode(batch)
        for text, row in zip(batch, rows, strict=True):
            assert np.array_equal(row, ROWS[text]), text
            checked += 1
    return checked


@pytest.mark.usefixtures("fast_thread_switches")
def test_the_encoder_cache_is_safe_across_threads() -> None:
    encoder = CachedEncoder(TableEmbedder(), capacity=CAPACITY)
    threads, calls = 8, 5_000
    with ThreadPoolExecutor(threads) as pool:
        checked = sum(pool.map(hammer, [encoder] * threads, range(threads), [calls] * threads))
    assert checked >= threads * calls
    assert len(encoder.cache) <= CAPACITY


def test_the_categories_nearest_a_batch_of_texts_are_those_nearest_each_alone(mapper: CategoryMapper) -> None:
    """The experts' training embeds its personas in batches; the tag service, one per request."""
    texts = ["Runs a school biology lab", "A shopper for Gloves and Glues", "microscopes", "x"]
    batched = mapper.nearest(texts, 3)
    assert batched == [mapper.nearest([text], 3)[0] for text in texts]
    assert all(len(near) == 3 and set(near) <= set(mapper.categories) for near in batched)
    assert batched[1][:2] != batched[2][:2]
    assert mapper.nearest(texts, 0) == [[], [], [], []]
