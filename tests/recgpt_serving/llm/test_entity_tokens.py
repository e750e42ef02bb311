"""Entity tokens in prompts: markers become prompt-embeds parts vLLM can read, and an agent's call goes by
entity tokens only when it wants them and can have them; otherwise (no table, no item, the engine refuses)
the text answers, counted by reason, and the answer says which went."""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from prometheus_client import REGISTRY
from pydantic import BaseModel

from recgpt.common.v1 import common_pb2
from recgpt_domain.behaviour_context import compress
from recgpt_domain.catalogue import Interaction, Item
from recgpt_serving.llm import entity_tokens
from recgpt_serving.llm.client import LlmClient, LlmSettings
from recgpt_serving.llm.entity_tokens import Asked, EntityTokens
from tests.recgpt_serving.llm.entity_tables import manifest, table_of
from tests.recgpt_serving.llm.fake_openai import FakeOpenAI

ITEMS = {
    "m1": Item(item_id="m1", title="Compound microscope", category_path=["Microscopes"]),
    "b1": Item(item_id="b1", title="Glass beaker set", category_path=["Beakers"]),
}
AGENT = "persona_planner"


class Named(BaseModel):
    name: str


def table(item_ids: list[str]) -> EntityTokens:
    return table_of(item_ids)


def decoded(part: dict[str, str]) -> Any:
    return torch.load(io.BytesIO(base64.b64decode(part["data"])), weights_only=True)


def asked(entities: EntityTokens | None) -> Asked:
    context = compress(
        [Interaction(item_id="m1", timestamp=1), Interaction(item_id="b1", timestamp=2)],
        ITEMS,
        entity_items=entities if entities is not None else (),
    )
    return Asked.of(context, lambda text: [{"role": "user", "content": f"Bought:\n{text}\nWho?"}])


def outcomes(outcome: str) -> float:
    labels = {"agent": AGENT, "outcome": outcome}
    return REGISTRY.get_sample_value("recgpt_entity_tokens_requests_total", labels) or 0.0


def test_markers_become_one_bfloat16_row_per_item_between_the_text() -> None:
    entities = table(["b1", "m1"])
    [message] = entities.spliced(asked(entities).entity or [])
    parts = message["content"]
    kinds = [part["type"] for part in parts]
    assert kinds == ["text", "prompt_embeds", "text", "prompt_embeds", "text"]
    assert parts[0]["text"].startswith("Bought:\nBeakers (1 items):\n- ")
    first, second = decoded(parts[1]), decoded(parts[3])
    assert first.dtype == torch.bfloat16 and tuple(first.shape) == (1, 4)
    # b1 (the most recent) is row 0 of the table, m1 row 1.
    assert first.float().tolist() == [[1.0] * 4] and second.float().tolist() == [[2.0] * 4]
    assert "Glass beaker" not in str(parts) and "Compound microscope" not in str(parts)


def test_text_without_markers_is_left_as_it_is() -> None:
    assert table(["m1"]).content("no items here") == "no items here"


@pytest.fixture
async def llm(fake_llm: FakeOpenAI) -> Any:
    client = LlmClient(LlmSettings(endpoints=[fake_llm.base_url]))
    yield client
    await client.aclose()


async def test_wanted_and_available_goes_by_entity_tokens(llm: LlmClient, fake_llm: FakeOpenAI) -> None:
    entities = table(["m1", "b1"])
    before = outcomes("spliced")
    answer = await entity_tokens.ask_structured(llm, entities, AGENT, asked(entities), True, Named)
    assert answer.result.value.name == "ok" and answer.entity_tokens == 2
    assert isinstance(fake_llm.seen[-1].body["messages"][0]["content"], list)
    assert outcomes("spliced") == before + 1


async def test_an_engine_refusal_is_answered_by_the_text(llm: LlmClient, fake_llm: FakeOpenAI) -> None:
    entities = table(["m1", "b1"])
    fake_llm.behaviour.refuse_prompt_embeds = True
    before = outcomes("refused")
    answer = await entity_tokens.ask_structured(llm, entities, AGENT, asked(entities), True, Named)
    assert answer.result.value.name == "ok" and answer.entity_tokens == 0
    assert len(fake_llm.seen) == 2
    assert "Compound microscope" in fake_llm.seen[-1].body["messages"][0]["content"]
    assert outcomes("refused") == before + 1


async def test_no_table_or_not_wanted_goes_by_text(llm: LlmClient, fake_llm: FakeOpenAI) -> None:
    before = outcomes("no_table")
    answer = await entity_tokens.ask_structured(llm, None, AGENT, asked(None), True, Named)
    assert answer.entity_tokens == 0 and outcomes("no_table") == before + 1
    entities = table(["m1", "b1"])
    answer = await entity_tokens.ask_structured(llm, entities, AGENT, asked(entities), False, Named)
    assert answer.entity_tokens == 0
    assert all(isinstance(seen.body["messages"][0]["content"], str) for seen in fake_llm.seen)


def test_a_request_names_its_representation_or_takes_the_default() -> None:
    wants = entity_tokens.wants_entities
    assert wants(common_pb2.ITEM_REPRESENTATION_DEFAULT, True)
    assert not wants(common_pb2.ITEM_REPRESENTATION_DEFAULT, False)
    assert wants(common_pb2.ITEM_REPRESENTATION_ENTITY, False)
    assert not wants(common_pb2.ITEM_REPRESENTATION_TEXT, True)


def test_loading_refuses_another_catalogue_and_serves_text(tmp_path: Path) -> None:
    from recgpt_domain import entity_artefact

    entity_artefact.write(tmp_path, manifest(), ["b1", "m1"], np.ones((2, 4), np.float32), {})
    assert entity_tokens.load(tmp_path, ["m1", "b1"], "smol") is not None
    assert entity_tokens.load(tmp_path, ["m1"], "smol") is None
    assert entity_tokens.load(tmp_path, ["m1", "b1"], "other") is None
    assert entity_tokens.load(None, ["m1"], "smol") is None
