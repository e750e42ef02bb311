"""The non-LLM tag baseline, and the service's start-up: categories embedded once from the catalogue."""

from __future__ import annotations

from pathlib import Path

import pytest

from recgpt_domain.behaviour_context import compress
from recgpt_domain.behaviour_store import BehaviourStore
from recgpt_domain.catalogue import Interaction, Item
from recgpt_serving.agent_runner import AgentDeps
from recgpt_serving.llm.client import LlmClient, LlmSettings
from tags.category_map import category_texts
from tags.frequent_categories import RATIONALE, frequent_category_tags
from tags.main import build
from tests.tags.conftest import ITEMS, tags_settings

ITEMS_BY_ID = {item.item_id: item for item in [*ITEMS, Item(item_id="x1", title="No category at all")]}


def history(*item_ids: str) -> list[Interaction]:
    return [Interaction(item_id=item) for item in item_ids]


def test_most_frequent_categories_first_without_uncategorised_items() -> None:
    context = compress(history("x1", "x1", "x1", "x1", "g1", "m1", "m2", "g1", "b1", "m1"), ITEMS_BY_ID)
    tags = frequent_category_tags(context, 2)
    assert [(t.tag, t.interest, t.category, t.category_score) for t in tags] == [
        ("Microscopes", "Microscopes", "Microscopes", 1.0),
        ("Glues", "Glues", "Glues", 1.0),
    ]
    assert {t.rationale for t in tags} == {RATIONALE}


def test_no_behaviour_gives_no_tags() -> None:
    assert frequent_category_tags(compress([], ITEMS_BY_ID), 5) == []
    assert frequent_category_tags(compress(history("x1"), ITEMS_BY_ID), 5) == []


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
