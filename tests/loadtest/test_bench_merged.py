"""The merged-vs-LoRA bench against two fake engines: the same recorded prompts reach each, by its name."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from loadtest import bench_merged
from recgpt_tools import run_state
from recgpt_tools.merged_models import MANIFEST, MERGED_DIR, MergedManifest
from recgpt_tools.run_state import RunState
from tests.recgpt_serving.llm.fake_openai import FakeOpenAI

BASE = "smollm2-135m-instruct"
MERGED = "tag_expert-v1"


def write_platform(tmp_path: Path, shared: str, own: str | None) -> Path:
    """A run state naming the shared engine and, unless None, the agent's own; and the merged model."""
    urls = {"vllm": shared.removesuffix("/v1")} | (
        {"vllm-tag-expert": own.removesuffix("/v1")} if own else {}
    )
    state = RunState(
        redis_url="redis://127.0.0.1:1/0",
        redis_prefix="p",
        catalogue_dir=tmp_path,
        urls=urls,
        targets={},
        metrics_urls={},
    )
    stack = tmp_path / "run" / "stack.json"
    run_state.write(stack, state)
    folder = tmp_path / "models" / MERGED_DIR / MERGED
    folder.mkdir(parents=True)
    manifest = MergedManifest(
        agent="tag_expert",
        adapter_version="v1",
        served_name=MERGED,
        base_model=BASE,
        adapter_sha256={},
        dtype="bfloat16",
        created_at="2026-12-01T00:00:00Z",
    )
    (folder / MANIFEST).write_text(manifest.model_dump_json())
    adapter = tmp_path / "adapters" / "tag_expert" / "v1"
    adapter.mkdir(parents=True)
    (adapter / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA", "r": 8}))
    (adapter / "adapter_model.safetensors").write_text("{}")
    adapter_manifest = {"agent": "tag_expert", "version": "v1", "base_model": BASE, "created_at_unix": 1}
    (adapter / "recgpt_adapter.json").write_text(json.dumps(adapter_manifest))
    return stack


def write_records(folder: Path, agent: str, count: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    lines = [
        json.dumps(
            {"model": "recorded", "messages": [{"role": "user", "content": f"#{index}"}], "priority": 0}
        )
        for index in range(count)
    ]
    (folder / f"{agent}.jsonl").write_text("\n".join(lines) + "\n")


def args_for(tmp_path: Path, stack: Path, *extra: str) -> list[str]:
    return [
        "--stack", str(stack),
        "--agent", "experts",
        "--records", str(tmp_path / "records"),
        "--adapters-dir", str(tmp_path / "adapters"),
        "--models-dir", str(tmp_path / "models"),
        "--concurrency", "2",
        *extra,
    ]  # fmt: skip


async def test_the_same_prompts_go_to_the_shared_engine_as_lora_and_to_the_merged_engine(
    fake_llm: FakeOpenAI, fake_llm_2: FakeOpenAI, tmp_path: Path
) -> None:
    shared, own = fake_llm, fake_llm_2
    shared.models, own.models = [BASE], [MERGED]
    stack = write_platform(tmp_path, shared.base_url, own.base_url)
    write_records(tmp_path / "records", "tag_expert", 5)
    write_records(tmp_path / "records", "explainer", 3)

    line = await bench_merged.run(bench_merged.parse_args(args_for(tmp_path, stack, "--requests", "4")))

    assert (line["agent"], line["adapter"], line["requests"], line["concurrency"]) == (
        "tag_expert",
        MERGED,
        4,
        2,
    )
    assert (line["lora"]["endpoint"], line["lora"]["model"]) == (shared.base_url, MERGED)
    assert (line["merged"]["endpoint"], line["merged"]["model"]) == (own.base_url, MERGED)
    for side in ("lora", "merged"):
        assert line[side]["requests"] == 4 and line[side]["errors"] == 0
        assert line[side]["requests_per_s"] > 0 and line[side]["latency_p95_s"] > 0
    assert set(line["merged_over_lora"]) == {
        "requests_per_s",
        "latency_p50_s",
        "latency_p95_s",
        "completion_tokens_per_s",
    }
    # The adapter was loaded into the shared engine as the agents load it; one warm-up request each.
    assert [load["lora_name"] for load in shared.adapter_loads] == [MERGED]
    assert own.adapter_loads == []
    sent = [[seen.body for seen in engine.seen] for engine in (shared, own)]
    assert sent[0] == sent[1], "the same bodies, in the same order, to both"
    assert [body["messages"][0]["content"] for body in sent[0]] == ["#0", "#0", "#1", "#2", "#3"]
    assert {body["model"] for body in sent[0]} == {MERGED}


async def test_an_adapter_the_shared_engine_holds_already_is_not_loaded_again(
    fake_llm: FakeOpenAI, fake_llm_2: FakeOpenAI, tmp_path: Path
) -> None:
    fake_llm.models, fake_llm_2.models = [BASE, MERGED], [MERGED]
    stack = write_platform(tmp_path, fake_llm.base_url, fake_llm_2.base_url)
    write_records(tmp_path / "records", "tag_expert", 1)
    await bench_merged.run(bench_merged.parse_args(args_for(tmp_path, stack)))
    assert fake_llm.adapter_loads == []


def test_what_the_bench_cannot_measure_is_said(tmp_path: Path) -> None:
    stack = write_platform(tmp_path, "http://127.0.0.1:1/v1", None)
    with pytest.raises(SystemExit, match="no recorded requests of tag_expert"):
        bench_merged.main(args_for(tmp_path, stack))
    write_records(tmp_path / "records", "tag_expert", 1)
    with pytest.raises(SystemExit, match="RECGPT_STACK_MERGED_AGENTS=tag_expert make run"):
        bench_merged.main(args_for(tmp_path, stack))
    with pytest.raises(SystemExit, match="unknown agent 'poet'"):
        bench_merged.main([*args_for(tmp_path, stack), "--agent", "poet"])
