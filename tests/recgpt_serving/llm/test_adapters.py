"""Choosing and loading LoRA adapters: newest by default, per agent, per request; refusals keep the base."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from prometheus_client import REGISTRY
from pydantic import BaseModel
from safetensors.numpy import save_file

from recgpt_serving import context
from recgpt_serving.llm.adapter_files import (
    AdapterError,
    AdapterProblem,
    BaseShapes,
    check_fits,
    choose,
    versions,
)
from recgpt_serving.llm.client import LlmClient, LlmSettings
from tests.recgpt_serving.llm.fake_openai import FakeOpenAI

BASE = "smollm2-135m-instruct"
MESSAGES = [{"role": "user", "content": "Name something."}]


class Named(BaseModel):
    name: str


def write_base(folder: Path, hidden: int = 8, layers: int = 2) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    config = {
        "hidden_size": hidden,
        "intermediate_size": 3 * hidden,
        "num_attention_heads": 2,
        "num_key_value_heads": 1,
        "num_hidden_layers": layers,
    }
    (folder / "config.json").write_text(json.dumps(config))
    return folder


def write_adapter(
    root: Path,
    agent: str,
    version: str,
    *,
    created: int,
    base_model: str = BASE,
    hidden: int = 8,
    rank: int = 4,
    layers: int = 2,
    prompt_version: str | None = None,
) -> Path:
    """A LoRA in PEFT's file layout (q_proj of every layer), with our manifest."""
    folder = root / agent / version
    folder.mkdir(parents=True)
    prefix = "base_model.model.model.layers.{}.self_attn.q_proj"
    tensors = {}
    for layer in range(layers):
        tensors[f"{prefix.format(layer)}.lora_A.weight"] = np.zeros((rank, hidden), np.float32)
        tensors[f"{prefix.format(layer)}.lora_B.weight"] = np.zeros((hidden, rank), np.float32)
    save_file(tensors, str(folder / "adapter_model.safetensors"))
    (folder / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA", "r": rank}))
    manifest: dict[str, object] = {
        "agent": agent,
        "version": version,
        "base_model": base_model,
        "created_at_unix": created,
    }
    if prompt_version is not None:
        manifest["prompt_version"] = prompt_version
    (folder / "recgpt_adapter.json").write_text(json.dumps(manifest))
    return folder


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_newest_by_manifest_time_and_incomplete_folders_skipped(tmp_path: Path) -> None:
    write_adapter(tmp_path, "tag_predictor", "b-old", created=100)
    write_adapter(tmp_path, "tag_predictor", "a-new", created=200)
    write_adapter(tmp_path, "tag_predictor", ".tmp-in-the-making", created=300)
    (tmp_path / "tag_predictor" / "half-written").mkdir()
    assert [a.version for a in versions(tmp_path, "tag_predictor")] == ["a-new", "b-old"]
    newest = choose(tmp_path, "tag_predictor", "newest")
    assert newest is not None and newest.served_name == "tag_predictor-a-new"
    assert choose(tmp_path, "explainer", "newest") is None, "no adapter: the base model"
    assert choose(tmp_path, "tag_predictor", "base") is None
    pinned = choose(tmp_path, "tag_predictor", "b-old")
    assert pinned is not None and pinned.version == "b-old"
    with pytest.raises(AdapterError, match="no adapter version 'v9'") as raised:
        choose(tmp_path, "tag_predictor", "v9")
    assert raised.value.problem is AdapterProblem.NOT_FOUND


def test_an_adapter_is_chosen_only_for_the_prompt_it_learnt(tmp_path: Path) -> None:
    """The tag agent's choose-mode adapter is never served the generate prompt, nor the other way round."""
    write_adapter(tmp_path, "tag_predictor", "generate", created=100, prompt_version="tags-v1.0")
    write_adapter(tmp_path, "tag_predictor", "choose", created=200, prompt_version="tags-choose-v1.0")
    write_adapter(tmp_path, "tag_predictor", "unstamped", created=50)

    def newest(prompt: str) -> str | None:
        adapter = choose(tmp_path, "tag_predictor", "newest", prompt)
        return adapter.version if adapter is not None else None

    assert newest("tags-v1.0") == "generate"
    assert newest("tags-choose-v1.0") == "choose"
    assert newest("") == "choose", "a caller that names no prompt takes the newest"
    assert newest("tags-v2.0") == "unstamped", "an adapter that names no prompt fits any"
    with pytest.raises(AdapterError, match=r"trained on prompt 'tags-choose-v1\.0'") as raised:
        choose(tmp_path, "tag_predictor", "choose", "tags-v1.0")
    assert raised.value.problem is AdapterProblem.OTHER_PROMPT


async def test_an_agent_asking_another_prompt_is_served_the_base_model_counted(
    fake_llm: FakeOpenAI, tmp_path: Path
) -> None:
    write_adapter(tmp_path, "tag_predictor", "choose", created=200, prompt_version="tags-choose-v1.0")
    pinned = LlmSettings(
        endpoints=[fake_llm.base_url], adapters_dir=tmp_path, agent_adapters={"tag_predictor": "choose"}
    )
    before = metric("recgpt_llm_adapter_failures_total", agent="tag_predictor", reason="other_prompt")
    async with LlmClient(pinned) as client:
        assert await client.adapter_for("tag_predictor", "tags-choose-v1.0") == "tag_predictor-choose"
        assert await client.adapter_for("tag_predictor", "tags-v1.0") == ""
    after = metric("recgpt_llm_adapter_failures_total", agent="tag_predictor", reason="other_prompt")
    assert after == before + 1


def test_an_adapter_of_another_base_model_is_refused(tmp_path: Path) -> None:
    shapes = BaseShapes.read(write_base(tmp_path / "base"))
    write_adapter(tmp_path, "t", "ok", created=1)
    write_adapter(tmp_path, "t", "named-other", created=2, base_model="Qwen/Qwen2.5-0.5B")
    write_adapter(tmp_path, "t", "wider", created=3, hidden=64)
    write_adapter(tmp_path, "t", "deeper", created=4, layers=5)
    write_adapter(tmp_path, "t", "too-big", created=5, rank=128)
    by_version = {a.version: a for a in versions(tmp_path, "t")}
    check_fits(by_version["ok"], BASE, shapes, max_rank=64)
    # The served name may be a path to the same model folder.
    check_fits(by_version["ok"], f"/models/{BASE.upper()}/", shapes, max_rank=64)
    expected = {
        "named-other": (AdapterProblem.OTHER_BASE_MODEL, "trained on 'Qwen/Qwen2.5-0.5B'"),
        "wider": (AdapterProblem.OTHER_BASE_MODEL, "64 wide"),
        "deeper": (AdapterProblem.OTHER_BASE_MODEL, "beyond the base model's 2 layers"),
        "too-big": (AdapterProblem.RANK_TOO_HIGH, "rank 128"),
    }
    for version, (problem, message) in expected.items():
        with pytest.raises(AdapterError, match=message) as raised:
            check_fits(by_version[version], BASE, shapes, max_rank=64)
        assert raised.value.problem is problem, version


def settings_for(fake: FakeOpenAI, root: Path, **extra: object) -> LlmSettings:
    return LlmSettings(
        endpoints=[fake.base_url],
        model=BASE,
        adapters_dir=root,
        base_model_dir=write_base(root.parent / "base"),
        deadline_s=5.0,
        **extra,  # type: ignore[arg-type]
    )


async def test_the_newest_adapter_is_loaded_once_and_named_in_requests(
    fake_llm: FakeOpenAI, tmp_path: Path
) -> None:
    root = tmp_path / "adapters"
    folder = write_adapter(root, "tag_predictor", "v2", created=2)
    write_adapter(root, "tag_predictor", "v1", created=1)
    async with LlmClient(settings_for(fake_llm, root)) as client:
        first = await client.structured("tag_predictor", MESSAGES, Named)
        await client.chat("tag_predictor", MESSAGES)
        base = await client.structured("interest_miner", MESSAGES, Named)
    assert first.adapter == "tag_predictor-v2" and base.adapter == ""
    assert [seen.body["model"] for seen in fake_llm.seen] == ["tag_predictor-v2", "tag_predictor-v2", BASE]
    assert fake_llm.adapter_loads == [{"lora_name": "tag_predictor-v2", "lora_path": str(folder.resolve())}]


async def test_per_agent_setting_and_request_override(fake_llm: FakeOpenAI, tmp_path: Path) -> None:
    root = tmp_path / "adapters"
    write_adapter(root, "tag_predictor", "v2", created=2)
    write_adapter(root, "tag_predictor", "v1", created=1)
    write_adapter(root, "explainer", "e1", created=1)
    settings = settings_for(fake_llm, root, agent_adapters="tag_predictor=v1,explainer=base")
    async with LlmClient(settings) as client:
        assert await client.adapter_for("tag_predictor") == "tag_predictor-v1"
        assert await client.adapter_for("explainer") == ""
        # An experiment arm's choice travels in the request context and wins over the settings.
        with context.bound(context.RequestContext(adapters="tag_predictor=newest,explainer=e1")):
            assert await client.adapter_for("tag_predictor") == "tag_predictor-v2"
            assert await client.adapter_for("explainer") == "explainer-e1"
            ctx = context.RequestContext.from_metadata(context.current().to_metadata())
            assert ctx.adapter_for("explainer") == "e1", "it crosses gRPC as metadata"
        with context.bound(context.with_adapters({"tag_predictor": "base"})):
            assert await client.adapter_for("tag_predictor") == ""


async def test_refused_adapters_leave_the_base_model_serving_and_are_counted(
    fake_llm: FakeOpenAI, tmp_path: Path
) -> None:
    root = tmp_path / "adapters"
    write_adapter(root, "judge", "other", created=1, hidden=64)
    write_adapter(root, "explainer", "x1", created=1)
    before_shape = metric("recgpt_llm_adapter_failures_total", agent="judge", reason="other_base_model")
    before_load = metric("recgpt_llm_adapter_failures_total", agent="explainer", reason="load_failed")
    before_missing = metric("recgpt_llm_adapter_failures_total", agent="judge", reason="not_found")
    fake_llm.behaviour.adapter_load_status = 400
    async with LlmClient(settings_for(fake_llm, root)) as client:
        judged = await client.structured("judge", MESSAGES, Named)
        explained = await client.structured("explainer", MESSAGES, Named)
        again = await client.structured("explainer", MESSAGES, Named)
        with context.bound(context.RequestContext(adapters="judge=v404")):
            missing = await client.structured("judge", MESSAGES, Named)
    assert (judged.adapter, explained.adapter, again.adapter, missing.adapter) == ("", "", "", "")
    assert [seen.body["model"] for seen in fake_llm.seen] == [BASE] * 4
    assert len(fake_llm.adapter_loads) == 1, "a refused adapter is not asked for again"
    assert (
        metric("recgpt_llm_adapter_failures_total", agent="judge", reason="other_base_model")
        == before_shape + 1
    )
    assert (
        metric("recgpt_llm_adapter_failures_total", agent="explainer", reason="load_failed")
        == before_load + 2
    )
    assert (
        metric("recgpt_llm_adapter_failures_total", agent="judge", reason="not_found") == before_missing + 1
    )


async def test_without_adapters_folder_the_static_name_is_used(fake_llm: FakeOpenAI) -> None:
    settings = LlmSettings(endpoints=[fake_llm.base_url], model=BASE, adapter="served-by-flag")
    async with LlmClient(settings) as client:
        result = await client.structured("tag_predictor", MESSAGES, Named)
    assert result.adapter == "served-by-flag"
    assert fake_llm.adapter_loads == []
