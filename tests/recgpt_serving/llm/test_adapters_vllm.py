"""LoRA adapters on the real vLLM: a real PEFT adapter is loaded and answers; one trained on another base
model is refused before vLLM sees it (vLLM itself would serve it silently), and the base model answers."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import torch
from peft import LoraConfig, get_peft_model
from prometheus_client import REGISTRY
from transformers import LlamaConfig, LlamaForCausalLM

from recgpt_serving.llm.client import LlmClient, LlmSettings
from recgpt_tools import redis_server
from recgpt_tools.vllm_engine import EngineSettings, vllm_command, vllm_env
from tests.lora_fixtures import ADAPTER_MANIFEST, write_lora_adapter

pytestmark = pytest.mark.integration

BASE = "smollm2-135m-instruct"
MESSAGES = [{"role": "user", "content": "Name three tools for soldering."}]


def other_base_adapter(root: Path) -> Path:
    """A LoRA of a tiny random Llama (64 wide): the same module names as SmolLM2's, other shapes."""
    torch.manual_seed(0)
    config = LlamaConfig(
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        vocab_size=49152,
    )
    lora = LoraConfig(
        r=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False, task_type="CAUSAL_LM"
    )
    folder = root / "judge" / "tiny"
    model = LlamaForCausalLM(config)  # type: ignore[no-untyped-call]
    get_peft_model(model, lora).save_pretrained(str(folder))
    manifest = {"agent": "judge", "version": "tiny", "base_model": BASE, "created_at_unix": 1}
    (folder / ADAPTER_MANIFEST).write_text(json.dumps(manifest))
    return folder


# A CPU vLLM loads the small model in about a minute; a slow CI machine gets room.
ENGINE_START_S = 300.0


@pytest.fixture(scope="module")
def lora_endpoint(llm_model_folder: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A vLLM of its own with --enable-lora (the platform's runs without while no agent has an adapter),
    or `RECGPT_TEST_VLLM_ENDPOINT`'s."""
    configured = os.environ.get("RECGPT_TEST_VLLM_ENDPOINT")
    if configured:
        yield configured
        return
    settings = EngineSettings(model=str(llm_model_folder), port=redis_server.free_port(), enable_lora=True)
    log = (tmp_path_factory.mktemp("lora-vllm") / "vllm.log").open("wb")
    engine = subprocess.Popen(
        vllm_command(settings), env=vllm_env(settings, os.environ), stdout=log, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + ENGINE_START_S
        while time.monotonic() < deadline:
            assert engine.poll() is None, f"the LoRA vLLM exited ({engine.returncode}), see {log.name}"
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(settings.health_url, timeout=2).status_code == 200:
                    break
            time.sleep(1)
        else:
            raise AssertionError(f"the LoRA vLLM did not start within {ENGINE_START_S:.0f} s, see {log.name}")
        yield settings.base_url
    finally:
        engine.terminate()
        try:
            engine.wait(timeout=30)
        except subprocess.TimeoutExpired:
            engine.kill()
        log.close()


async def test_a_real_adapter_is_served_and_another_base_is_refused(
    lora_endpoint: str, llm_model_folder: Path, tmp_path: Path
) -> None:
    vllm_endpoint, model_folder = lora_endpoint, llm_model_folder
    root = tmp_path / "adapters"
    write_lora_adapter(model_folder, root, agent="tag_predictor", version="it1", base_model=BASE)
    other_base_adapter(root)
    settings = LlmSettings(
        endpoints=[vllm_endpoint],
        model=BASE,
        adapters_dir=root,
        base_model_dir=model_folder,
        deadline_s=120.0,
        temperature=0.0,
        max_tokens=24,
    )
    refused_before = REGISTRY.get_sample_value(
        "recgpt_llm_adapter_failures_total", {"agent": "judge", "reason": "other_base_model"}
    )
    async with LlmClient(settings) as client:
        tuned = await client.chat("tag_predictor", MESSAGES)
        base = await client.chat("interest_miner", MESSAGES)
        refused = await client.chat("judge", MESSAGES)
    assert (tuned.adapter, tuned.model) == ("tag_predictor-it1", "tag_predictor-it1")
    assert (base.adapter, base.model) == ("", BASE)
    assert tuned.value != base.value, "the random LoRA changes what the model writes"
    assert (refused.adapter, refused.model) == ("", BASE)
    assert refused.value == base.value, "the base model answered for the refused adapter"
    refused_after = REGISTRY.get_sample_value(
        "recgpt_llm_adapter_failures_total", {"agent": "judge", "reason": "other_base_model"}
    )
    assert (refused_after or 0.0) == (refused_before or 0.0) + 1
