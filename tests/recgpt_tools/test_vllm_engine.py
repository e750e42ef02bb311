"""The vLLM worker's command line and environment, for the CPU build here and the CUDA build on GPUs."""

from __future__ import annotations

import json
import os

import pytest

from recgpt_tools.vllm_engine import EngineSettings, served_lora_rank, vllm_command, vllm_env


def flag(command: list[str], name: str) -> str:
    return command[command.index(name) + 1]


def test_cpu_command_serves_the_folder_under_its_name() -> None:
    settings = EngineSettings(model="/models/smollm2", port=8123, max_model_len=2048)
    command = vllm_command(settings, python="/venv/bin/python")
    assert command[:3] == ["/venv/bin/python", "-m", "vllm.entrypoints.openai.api_server"]
    assert flag(command, "--model") == "/models/smollm2"
    assert flag(command, "--served-model-name") == "smollm2-135m-instruct"
    assert flag(command, "--port") == "8123"
    assert flag(command, "--host") == "127.0.0.1"
    assert flag(command, "--dtype") == "bfloat16"
    assert flag(command, "--max-model-len") == "2048"
    assert json.loads(flag(command, "--structured-outputs-config")) == {
        "backend": "xgrammar",
        "disable_any_whitespace": True,
    }
    assert "--gpu-memory-utilization" not in command
    assert "--enforce-eager" in command
    assert settings.base_url == "http://127.0.0.1:8123/v1"


def test_cpu_env_binds_threads_and_sizes_the_kv_cache() -> None:
    settings = EngineSettings(model="m", cpu_kvcache_gib=3, cpu_threads_bind="0-1")
    env = vllm_env(settings, {"PATH": "/bin"})
    assert env["PATH"] == "/bin"
    assert env["VLLM_CPU_KVCACHE_SPACE"] == "3"
    assert env["VLLM_CPU_OMP_THREADS_BIND"] == "0-1"
    assert env["HF_HUB_OFFLINE"] == "1"


def test_default_thread_binding_names_every_allowed_core() -> None:
    bound = EngineSettings(model="m").cpu_threads_bind
    assert {int(cpu) for cpu in bound.split(",")} == os.sched_getaffinity(0)


def test_cuda_worker_gets_gpu_flags_and_no_cpu_variables() -> None:
    settings = EngineSettings(
        model="HuggingFaceTB/SmolLM2-1.7B-Instruct",
        device="cuda",
        gpu_memory_utilization=0.5,
        extra_args="--enable-prompt-embeds --max-num-batched-tokens '8192'",
    )
    command = vllm_command(settings)
    assert flag(command, "--gpu-memory-utilization") == "0.5"
    assert "--enforce-eager" not in command
    assert command[-3:] == ["--enable-prompt-embeds", "--max-num-batched-tokens", "8192"]
    env = vllm_env(settings, {"VLLM_CPU_KVCACHE_SPACE": "4", "VLLM_CPU_OMP_THREADS_BIND": "0-1"})
    assert "VLLM_CPU_KVCACHE_SPACE" not in env
    assert "VLLM_CPU_OMP_THREADS_BIND" not in env


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECGPT_VLLM_MODEL", "/srv/model")
    monkeypatch.setenv("RECGPT_VLLM_PORT", "8200")
    monkeypatch.setenv("RECGPT_VLLM_DEVICE", "cuda")
    settings = EngineSettings()
    assert (settings.model, settings.port, settings.device) == ("/srv/model", 8200, "cuda")


def test_model_is_required(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RECGPT_VLLM_MODEL", raising=False)
    with pytest.raises(ValueError, match="model"):
        EngineSettings()


def test_compilation_can_be_chosen_either_way() -> None:
    assert "--enforce-eager" not in vllm_command(EngineSettings(model="m", enforce_eager=False))
    cuda_eager = EngineSettings(model="m", device="cuda", enforce_eager=True)
    assert "--enforce-eager" in vllm_command(cuda_eager)


def test_the_lora_rank_is_read_from_the_environment_and_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECGPT_VLLM_MAX_LORA_RANK", "8")
    settings = EngineSettings(model="m", enable_lora=True)
    assert flag(vllm_command(settings), "--max-lora-rank") == "8"
    with pytest.raises(ValueError, match="max_lora_rank must be one of"):
        EngineSettings(model="m", max_lora_rank=12)


def test_the_served_rank_is_the_least_vllm_takes_that_fits() -> None:
    assert served_lora_rank([]) == 8
    assert served_lora_rank([4, 8]) == 8
    assert served_lora_rank([8, 9]) == 16
    assert served_lora_rank([200]) == 128


def test_the_engine_schedules_by_priority_unless_told_otherwise() -> None:
    assert flag(vllm_command(EngineSettings(model="m")), "--scheduling-policy") == "priority"
    fcfs = EngineSettings(model="m", scheduling_policy="fcfs")
    assert flag(vllm_command(fcfs), "--scheduling-policy") == "fcfs"
