"""Which LoRA adapter an agent's LLM call uses, loaded into the vLLM workers on first use.

The choice, first that applies: the request's override (an experiment arm's, carried in the request
context), the agent's own setting, the default setting ("newest" unless told otherwise), all read from the
adapters folder; without a folder, the statically served name `LlmSettings.adapter`. An adapter that
does not fit the served base model or that a worker refuses is reported once (log line) and counted
(`recgpt_llm_adapter_failures_total`), and the base model answers instead: never a crash.
vLLM must run with `--enable-lora` and `VLLM_ALLOW_RUNTIME_LORA_UPDATING=True` (`EngineSettings.enable_lora`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx

from recgpt_serving import context, metrics
from recgpt_serving.llm.adapter_files import (
    Adapter,
    AdapterError,
    AdapterProblem,
    BaseShapes,
    check_fits,
    choose,
)

log = logging.getLogger(__name__)

_DETAIL_CHARS = 300


@dataclass(frozen=True)
class AdapterConfig:
    """The adapter settings of one process (from `LlmSettings`)."""

    served_model: str
    # A name vLLM already serves (`--lora-modules`), used as is when no adapters folder is set.
    static_adapter: str = ""
    adapters_dir: Path | None = None
    default_choice: str = "newest"
    agent_choices: Mapping[str, str] | None = None
    base_model_dir: Path | None = None
    max_rank: int = 64
    # How long a resolved choice is kept before the folder is read again (a new version is then served).
    rescan_s: float = 60.0
    load_timeout_s: float = 60.0


class AdapterSelector:
    """One per LLM client: resolves each call's adapter and makes sure every worker has it loaded."""

    def __init__(self, config: AdapterConfig, http: httpx.AsyncClient, endpoints: list[str]) -> None:
        self.config = config
        self._http = http
        self._endpoints = endpoints
        self._shapes = self._read_shapes()
        # (agent, choice, prompt version) -> (resolved adapter or None for the base model, when resolved)
        self._resolved: dict[tuple[str, str, str], tuple[Adapter | None, float]] = {}
        # Adapter folders refused once: never asked again in this process.
        self._refused: dict[Path, AdapterError] = {}
        self._loaded: set[tuple[str, str]] = set()
        self._reported: set[tuple[str, str, str]] = set()
        self._lock = asyncio.Lock()

    def _read_shapes(self) -> BaseShapes | None:
        if self.config.base_model_dir is None:
            return None
        try:
            return BaseShapes.read(self.config.base_model_dir)
        except (OSError, ValueError, KeyError) as error:
            log.warning("base model config unreadable: adapter shapes unchecked", extra={"error": str(error)})
            return None

    def choice(self, agent: str) -> str:
        """The setting that applies to this call of `agent`: the request's override first."""
        override = context.current().adapter_for(agent)
        if override:
            return override
        return (self.config.agent_choices or {}).get(agent) or self.config.default_choice

    async def served(self, agent: str, prompt_version: str = "") -> str:
        """The model name the call must send beyond the base: "" for the base model, else the adapter's.

        `prompt_version`: the prompt the call asks; an adapter trained on another is never chosen.
        """
        if self.config.adapters_dir is None and not context.current().adapter_for(agent):
            return self.config.static_adapter
        choice = self.choice(agent)
        try:
            adapter = self._resolve(agent, choice, prompt_version)
            if adapter is None:
                metrics.LLM_ADAPTER_CALLS.labels(agent, "base").inc()
                return ""
            await self._ensure_loaded(adapter)
        except AdapterError as error:
            metrics.LLM_ADAPTER_CALLS.labels(agent, "base").inc()
            self._report(agent, choice, error)
            return ""
        metrics.LLM_ADAPTER_CALLS.labels(agent, "adapter").inc()
        return adapter.served_name

    def forget(self, worker: str, served_name: str) -> None:
        """A worker no longer knows the adapter (restarted): load it again on the next call."""
        self._loaded.discard((worker, served_name))

    def _resolve(self, agent: str, choice: str, prompt_version: str) -> Adapter | None:
        key = (agent, choice, prompt_version)
        cached = self._resolved.get(key)
        now = time.monotonic()
        if cached is not None and now - cached[1] < self.config.rescan_s:
            adapter = cached[0]
        else:
            adapter = choose(self.config.adapters_dir, agent, choice, prompt_version)
            self._resolved[key] = (adapter, now)
        if adapter is None:
            return None
        refused = self._refused.get(adapter.folder)
        if refused is not None:
            raise refused
        try:
            check_fits(adapter, self.config.served_model, self._shapes, self.config.max_rank)
        except AdapterError as error:
            self._refused[adapter.folder] = error
            raise
        return adapter

    async def _ensure_loaded(self, adapter: Adapter) -> None:
        missing = [w for w in self._endpoints if (w, adapter.served_name) not in self._loaded]
        if not missing:
            return
        async with self._lock:
            missing = [w for w in self._endpoints if (w, adapter.served_name) not in self._loaded]
            for worker in missing:
                await self._load(worker, adapter)
                self._loaded.add((worker, adapter.served_name))

    async def _load(self, worker: str, adapter: Adapter) -> None:
        body = {"lora_name": adapter.served_name, "lora_path": str(adapter.folder.resolve())}
        try:
            async with asyncio.timeout(self.config.load_timeout_s):
                response = await self._http.post(f"{worker}/load_lora_adapter", json=body)
        except (httpx.HTTPError, TimeoutError) as error:
            # The worker is down or slow: not the adapter's fault, so it is not refused for good.
            raise AdapterError(AdapterProblem.LOAD_FAILED, f"{worker}: {type(error).__name__}") from error
        if response.status_code >= 400:
            refusal = AdapterError(
                AdapterProblem.LOAD_FAILED,
                f"{worker} refused {adapter.served_name} ({adapter.folder}): HTTP {response.status_code} "
                f"{response.text[:_DETAIL_CHARS]}",
            )
            self._refused[adapter.folder] = refusal
            raise refusal
        log.info("adapter loaded", extra={"adapter": adapter.served_name, "worker": worker})

    def _report(self, agent: str, choice: str, error: AdapterError) -> None:
        metrics.LLM_ADAPTER_FAILURES.labels(agent, error.problem.value).inc()
        said = (agent, choice, str(error))
        if said in self._reported:
            return
        self._reported.add(said)
        log.error(
            "adapter not served, the base model answers",
            extra={"agent": agent, "choice": choice, "reason": error.problem.value, "error": str(error)},
        )
