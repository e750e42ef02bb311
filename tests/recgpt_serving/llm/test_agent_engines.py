"""An agent served by an engine of its own (its adapter merged): its calls go there, the others' do not."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from prometheus_client import REGISTRY
from pydantic import BaseModel, ValidationError

from recgpt_serving import context
from recgpt_serving.llm.client import LlmClient, LlmSettings
from recgpt_serving.llm.engines import AgentEngine, parse_agent_engines
from recgpt_serving.llm.errors import LlmRequestError, LlmTimeoutError, LlmUnavailableError
from recgpt_tools import redis_server
from tests.recgpt_serving.llm.fake_openai import FakeOpenAI

BASE = "smollm2-135m-instruct"
MERGED = "tag_expert-v1"
MESSAGES = [{"role": "user", "content": "Name something."}]


class Named(BaseModel):
    name: str


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def write_adapter(root: Path, agent: str, version: str) -> Path:
    """The files the adapter chooser reads (no base folder is set, so the weights are not opened)."""
    folder = root / agent / version
    folder.mkdir(parents=True)
    (folder / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA", "r": 8}))
    (folder / "adapter_model.safetensors").write_text("{}")
    manifest = {"agent": agent, "version": version, "base_model": BASE, "created_at_unix": 1}
    (folder / "recgpt_adapter.json").write_text(json.dumps(manifest))
    return folder


def client_for(shared: str, own: str, adapters: Path, **extra: object) -> LlmClient:
    settings = LlmSettings.model_validate(
        {
            "endpoints": [shared],
            "model": BASE,
            "adapters_dir": adapters,
            "agent_engines": f"tag_expert={MERGED}@{own}",
            "deadline_s": 5.0,
            **extra,
        }
    )
    return LlmClient(settings)


@pytest.fixture
def adapters(tmp_path: Path) -> Path:
    root = tmp_path / "adapters"
    write_adapter(root, "tag_expert", "v1")
    write_adapter(root, "tag_expert", "v0")
    write_adapter(root, "explainer", "e1")
    return root


def test_the_setting_reads_agent_model_at_url_pairs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "RECGPT_LLM_AGENT_ENGINES",
        f" tag_expert = {MERGED}@http://127.0.0.1:8101/v1/ ,explainer=e@https://h/v1",
    )
    settings = LlmSettings(endpoints=["http://127.0.0.1:8100/v1"])
    assert settings.agent_engines == {
        "tag_expert": AgentEngine(MERGED, "http://127.0.0.1:8101/v1"),
        "explainer": AgentEngine("e", "https://h/v1"),
    }
    assert LlmSettings(endpoints=["http://h/v1"], agent_engines="").agent_engines == {}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("tag_expert=http://127.0.0.1:8101/v1", "is not agent=model@http"),
        (f"tag_expert={MERGED}", "is not agent=model@http"),
        (f"{MERGED}@http://h/v1", "is not agent=model@http"),
        ("=m@http://h/v1", "is not agent=model@http"),
        ("tag_expert=@http://h/v1", "is not agent=model@http"),
        ("tag_expert=m@127.0.0.1:8101/v1", "is not agent=model@http"),
        ("tag_expert=m@http://a/v1,tag_expert=m@http://b/v1", "given twice"),
    ],
)
def test_a_malformed_agent_engine_is_refused_naming_it(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_agent_engines(text)
    with pytest.raises(ValidationError, match=message):
        LlmSettings(endpoints=["http://h/v1"], agent_engines=text)


async def test_the_merged_agent_calls_its_engine_by_its_model_without_lora(
    fake_llm: FakeOpenAI, fake_llm_2: FakeOpenAI, adapters: Path
) -> None:
    shared, own = fake_llm, fake_llm_2
    merged_before = metric("recgpt_llm_adapter_calls_total", agent="tag_expert", served="merged")
    async with client_for(shared.base_url, own.base_url, adapters) as client:
        assert await client.adapter_for("tag_expert", "tag-expert-v2.1") == MERGED
        expert = await client.structured("tag_expert", MESSAGES, Named)
        await client.chat("tag_expert", MESSAGES, adapter=MERGED)
        explainer = await client.structured("explainer", MESSAGES, Named)
        base = await client.structured("interest_miner", MESSAGES, Named, adapter="")
    assert [seen.body["model"] for seen in own.seen] == [MERGED, MERGED]
    assert (expert.worker, expert.adapter) == (own.base_url, MERGED)
    # Every other agent keeps the shared engine, its adapters loaded there as before.
    assert [seen.body["model"] for seen in shared.seen] == ["explainer-e1", BASE]
    assert (explainer.worker, base.worker) == (shared.base_url, shared.base_url)
    assert [load["lora_name"] for load in shared.adapter_loads] == ["explainer-e1"]
    assert own.adapter_loads == [], "the merged engine is never asked to load a LoRA"
    after = metric("recgpt_llm_adapter_calls_total", agent="tag_expert", served="merged")
    assert after == merged_before + 2


async def test_an_arms_override_for_the_merged_agent_is_served_as_lora_by_the_shared_engine(
    fake_llm: FakeOpenAI, fake_llm_2: FakeOpenAI, adapters: Path
) -> None:
    shared, own = fake_llm, fake_llm_2
    async with client_for(shared.base_url, own.base_url, adapters) as client:
        for choice, model in (("v0", "tag_expert-v0"), ("v1", MERGED), ("base", BASE)):
            with context.bound(context.RequestContext(adapters=f"tag_expert={choice}")):
                served = await client.adapter_for("tag_expert")
                result = await client.structured("tag_expert", MESSAGES, Named, adapter=served)
            assert (served or BASE, result.worker) == (model, shared.base_url), choice
        # Another agent's override leaves the merged agent on its own engine.
        with context.bound(context.RequestContext(adapters="explainer=base")):
            assert (await client.structured("tag_expert", MESSAGES, Named)).worker == own.base_url
    assert [seen.body["model"] for seen in shared.seen] == ["tag_expert-v0", MERGED, BASE]
    assert [load["lora_name"] for load in shared.adapter_loads] == ["tag_expert-v0", MERGED]
    assert [seen.body["model"] for seen in own.seen] == [MERGED]


async def test_priorities_deadlines_and_failures_are_the_shared_engines(
    fake_llm: FakeOpenAI, fake_llm_2: FakeOpenAI, adapters: Path
) -> None:
    shared, own = fake_llm, fake_llm_2
    async with client_for(shared.base_url, own.base_url, adapters, agent_priorities="tag_expert=1") as client:
        await client.structured("tag_expert", MESSAGES, Named)
        assert own.seen[-1].body["priority"] == 1
        own.behaviour.mode = "hang_before_headers"
        started = time.perf_counter()
        with pytest.raises(LlmTimeoutError):
            await client.structured("tag_expert", MESSAGES, Named, deadline_s=0.3)
        assert time.perf_counter() - started < 1.0
    assert shared.seen == [], "a merged agent's call never lands on the shared engine"
    timeouts = metric("recgpt_llm_requests_total", agent="tag_expert", outcome="timeout")
    assert timeouts >= 1


async def test_a_merged_engine_that_is_down_is_unavailable_not_retried_on_the_shared_one(
    fake_llm: FakeOpenAI, adapters: Path
) -> None:
    down = f"http://127.0.0.1:{redis_server.free_port()}/v1"
    before = metric("recgpt_llm_requests_total", agent="tag_expert", outcome="unavailable")
    async with client_for(fake_llm.base_url, down, adapters) as client:
        with pytest.raises(LlmUnavailableError, match="no LLM worker answered"):
            await client.structured("tag_expert", MESSAGES, Named)
    assert fake_llm.seen == []
    assert metric("recgpt_llm_requests_total", agent="tag_expert", outcome="unavailable") == before + 1


async def test_prompt_logprobs_are_served_by_a_merged_engine_though_the_shared_one_serves_lora(
    fake_llm: FakeOpenAI, fake_llm_2: FakeOpenAI, adapters: Path
) -> None:
    shared, own = fake_llm, fake_llm_2
    async with client_for(shared.base_url, own.base_url, adapters) as client:
        result = await client.text_logprob("tag_expert", MESSAGES, "yes")
        with pytest.raises(LlmRequestError, match="refused while the engine serves LoRA"):
            await client.text_logprob("explainer", MESSAGES, "yes")
    assert result.value == pytest.approx(-3.0)
    assert (result.worker, result.model) == (own.base_url, MERGED)
    assert shared.seen == []
