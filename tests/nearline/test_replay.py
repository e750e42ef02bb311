"""Replaying recorded request bodies straight to an OpenAI-compatible server, counting its tokens."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nearline.replay import main, quantile, read_bodies, replay
from recgpt_serving.llm.client import LlmClient, LlmSettings
from tests.recgpt_serving.llm.fake_openai import FakeOpenAI

MESSAGES = [{"role": "user", "content": "Hello"}]


async def test_recorded_bodies_are_replayed_as_sent(fake_llm: FakeOpenAI, tmp_path: Path) -> None:
    record_dir = tmp_path / "recorded"
    settings = LlmSettings(endpoints=[fake_llm.base_url], model="m", record_dir=record_dir)
    async with LlmClient(settings) as client:
        for agent in ("interest_miner", "tag_predictor", "tag_predictor"):
            await client.chat(agent, MESSAGES, max_tokens=9)
    (record_dir / "broken.jsonl").write_text('{"not": "closed"\n')
    sent = [seen.body for seen in fake_llm.seen]
    fake_llm.seen.clear()

    bodies = read_bodies(record_dir)
    assert len(bodies) == 3
    report = await replay(bodies, fake_llm.base_url, concurrency=2)
    assert (report.requests, report.errors) == (3, 0)
    assert (report.prompt_tokens, report.completion_tokens) == (36, 21)
    assert report.completion_tokens_per_s == pytest.approx(21 / report.wall_s, rel=0.05)
    assert sorted(json.dumps(s.body, sort_keys=True) for s in fake_llm.seen) == sorted(
        json.dumps(body, sort_keys=True) for body in sent
    )


async def test_errors_are_counted_and_the_model_can_be_overridden(fake_llm: FakeOpenAI) -> None:
    body = {"model": "m", "messages": MESSAGES, "max_tokens": 4}
    report = await replay([body, body], fake_llm.base_url, concurrency=1, model="other")
    assert {seen.body["model"] for seen in fake_llm.seen} == {"other"}
    fake_llm.behaviour.mode = "status"
    fake_llm.behaviour.status = 400
    report = await replay([body], fake_llm.base_url, concurrency=1)
    assert (report.requests, report.errors, report.completion_tokens) == (1, 1, 0)


def test_an_empty_folder_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="no recorded request bodies"):
        main([str(tmp_path)])


async def test_one_agents_bodies_are_replayed_with_their_latencies(
    fake_llm: FakeOpenAI, tmp_path: Path
) -> None:
    record_dir = tmp_path / "recorded"
    settings = LlmSettings(endpoints=[fake_llm.base_url], model="m", record_dir=record_dir)
    async with LlmClient(settings) as client:
        for agent in ("interest_miner", "tag_expert", "tag_expert"):
            await client.chat(agent, MESSAGES, max_tokens=9)
    bodies = read_bodies(record_dir, agents=["tag_expert"])
    assert len(bodies) == 2 and read_bodies(record_dir, 1, ["tag_expert"]) == bodies[:1]
    fake_llm.behaviour.latency_s = 0.05
    report = await replay(bodies, fake_llm.base_url, concurrency=1)
    assert 0.05 <= report.latency_p50_s <= report.latency_p95_s < report.wall_s
    assert report.requests_per_s == pytest.approx(2 / report.wall_s, rel=0.05)
    assert "requests/s, latency p50" in report.text()


def test_quantiles_are_measured_values_by_nearest_rank() -> None:
    assert quantile([0.4, 0.1, 0.3, 0.2], 0.5) == 0.2
    assert quantile([0.4, 0.1, 0.3, 0.2], 0.95) == 0.4
    assert quantile([0.7], 0.95) == 0.7
    assert quantile([], 0.5) == 0.0
