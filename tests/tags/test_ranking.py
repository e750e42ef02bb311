"""Ranking mode: the statistics propose the user's categories, the model's likelihood orders them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from recgpt_domain import tag_ranking as ranking
from recgpt_domain.behaviour_context import compress
from recgpt_domain.catalogue import Interaction
from recgpt_domain.category_map import CategoryMapper
from recgpt_serving.agent_runner import AgentDeps
from recgpt_serving.llm.client import LlmClient, LlmSettings
from recgpt_serving.llm.errors import LlmRequestError
from tags.fallback import STATISTICS_RATIONALE
from tags.servicer import RANKED_RATIONALE, TagsServicer
from tests.recgpt_serving.llm.fake_openai import FakeOpenAI
from tests.tags.candidates import BY_ID, CANDIDATES, all_fallbacks
from tests.tags.running import Running, Serve, predict, tags_settings


def test_the_pool_is_frequent_then_what_follows_the_last_category_then_popular() -> None:
    behaviour = compress(
        [Interaction(item_id=i, timestamp=n) for n, i in enumerate(["m1", "m2", "b1"])], BY_ID, 400
    )
    pool = CANDIDATES.pool(behaviour, BY_ID, 5)
    assert pool[:2] == ["Microscopes", "Beakers"]  # frequent first (two microscopes)
    assert pool[2:4] == ["Pipettes", "Gloves"]  # then what follows Beakers, most often first
    assert len(pool) == 5 and len(set(pool)) == 5 and pool[4] in CANDIDATES.transitions.popular
    assert CANDIDATES.pool(behaviour, BY_ID, 1) == ["Microscopes"]
    # Every candidate has the tag that names it.
    assert all(category in CANDIDATES.names for category in pool)


def test_fusion_keeps_both_orders() -> None:
    assert ranking.by_score(["A", "B", "C"], [-3.0, -1.0, -1.0]) == ["B", "C", "A"]
    # A is first by the statistics, last by the model: fused, the model's first (B) and A share the top.
    assert ranking.fuse(["A", "B", "C"], ["B", "C", "A"])[:2] == ["B", "A"]


@pytest.fixture
async def ranked(serve: Serve) -> AsyncIterator[Running]:
    async with serve(CANDIDATES, tag_mode="rank", tag_rank_fuse_statistics=False) as running:
        yield running


def favour(tag: str) -> Any:
    """log P = 0 for the answer naming `tag`; every other loses 1/64 a character (the fake's tokens)."""
    return lambda body: 0.0 if tag in body["messages"][-1]["content"] else -1.0 / 64


async def test_the_model_orders_the_candidates_and_every_tag_names_a_category(ranked: Running) -> None:
    gloves = CANDIDATES.names["Gloves"]
    ranked.llm.behaviour.token_logprob = favour(gloves)
    reply = await ranked.stub.PredictTags(predict("m1", "b1", max_tags=3))
    assert not reply.fallback and not reply.provenance.fallback
    assert reply.tags[0].category == "Gloves"
    assert len(reply.tags) == 3
    for tag in reply.tags:
        assert tag.tag == CANDIDATES.names[tag.category] and tag.category_score == 1.0
        assert tag.rationale == RANKED_RATIONALE and tag.interest in ("microscopy", "lab glassware")
    # One scoring request per candidate, each the agent's prompt with the candidate as the answer's start.
    scored = [seen.body for seen in ranked.llm.seen if seen.body.get("prompt_logprobs") is not None]
    behaviour = compress(
        [Interaction(item_id="m1", timestamp=0), Interaction(item_id="b1", timestamp=1)], BY_ID, 400
    )
    assert len(scored) == len(CANDIDATES.pool(behaviour, BY_ID, 60))
    # What the answer cost: every scoring request's prompt (the fake counts 12 tokens each).
    assert reply.usage.prompt_tokens == 12 * len(scored)
    answers = {body["messages"][-1]["content"] for body in scored}
    assert ranking.answer_start(gloves) in answers
    assert all(body["messages"][0]["role"] == "system" for body in scored)


async def test_fused_with_the_statistics_the_frequent_category_stays_near_the_top(serve: Serve) -> None:
    async with serve(CANDIDATES, tag_mode="rank") as running:
        running.llm.behaviour.token_logprob = favour(CANDIDATES.names["Gloves"])
        reply = await running.stub.PredictTags(predict("m1", "m2", "b1", max_tags=3))
    behaviour = compress(
        [Interaction(item_id=i, timestamp=n) for n, i in enumerate(["m1", "m2", "b1"])], BY_ID, 400
    )
    pool = CANDIDATES.pool(behaviour, BY_ID, 60)
    scores = [0.0 if c == "Gloves" else -len(ranking.answer_start(CANDIDATES.names[c])) / 64 for c in pool]
    model = ranking.by_score(pool, scores)
    served = [t.category for t in reply.tags]
    assert served == ranking.fuse(pool, model)[:3] and served != model[:3]


async def test_a_failed_scoring_request_falls_back_and_is_counted(ranked: Running) -> None:
    ranked.llm.behaviour.mode = "status"
    ranked.llm.behaviour.status = 500
    before = all_fallbacks()
    reply = await ranked.stub.PredictTags(predict("m1", "b1", max_tags=4))
    # The candidates answer unranked, in the statistics' order (frequent, then what follows Beakers), counted.
    behaviour = compress(
        [Interaction(item_id="m1", timestamp=0), Interaction(item_id="b1", timestamp=1)], BY_ID, 400
    )
    pool = CANDIDATES.pool(behaviour, BY_ID, 60)
    assert reply.fallback and [t.category for t in reply.tags] == pool[:4]
    assert [t.category for t in reply.tags][2:] == ["Pipettes", "Gloves"]
    for tag in reply.tags:
        assert tag.tag == CANDIDATES.names[tag.category] and tag.rationale == STATISTICS_RATIONALE
    assert all_fallbacks() == before + 1


@pytest.mark.parametrize("mode", ["rank", "choose"])
async def test_a_mode_of_candidates_without_their_statistics_refuses_to_start(
    fake_llm: FakeOpenAI, mapper: CategoryMapper, mode: str
) -> None:
    settings = tags_settings("redis://127.0.0.1:1", "x", tag_mode=mode)
    llm = LlmClient(LlmSettings(endpoints=[fake_llm.base_url]))
    try:
        with pytest.raises(ValueError, match=f"{mode} mode needs the candidates' statistics"):
            TagsServicer(settings, AgentDeps(llm=llm, store=None, items=BY_ID), mapper)  # type: ignore[arg-type]
    finally:
        await llm.aclose()


async def test_with_lora_served_no_prompt_logprobs_request_is_sent(
    fake_llm: FakeOpenAI, tmp_path: Path
) -> None:
    """vLLM 0.32's CPU engine dies on prompt logprobs while it serves LoRA: the client refuses, counted."""
    llm = LlmClient(LlmSettings(endpoints=[fake_llm.base_url], adapters_dir=tmp_path))
    try:
        with pytest.raises(LlmRequestError, match="refused while the engine serves LoRA"):
            await llm.text_logprob("tag_predictor", [{"role": "user", "content": "hi"}], "Lab Beakers")
    finally:
        await llm.aclose()
    assert fake_llm.seen == []
    allowed = LlmSettings(
        endpoints=[fake_llm.base_url], adapters_dir=tmp_path, prompt_logprobs_with_lora=True
    )
    async with LlmClient(allowed) as client:
        scored = await client.text_logprob(
            "tag_predictor", [{"role": "user", "content": "hi"}], "Lab Beakers", adapter=""
        )
    assert scored.value < 0 and len(fake_llm.seen) == 1
