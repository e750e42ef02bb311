"""The process registry is consistent, and what it tells each process is what that process reads."""

from __future__ import annotations

import dataclasses
import tomllib
from pathlib import Path

import pytest
from pydantic import AliasChoices
from pydantic_settings import BaseSettings

from gateway.settings import GatewaySettings
from nearline.settings import NearlineSettings
from recgpt_serving import service_names
from recgpt_serving.agent_runner import AgentServiceSettings
from recgpt_serving.llm.client import LlmSettings
from recgpt_tools import registry
from recgpt_tools.registry import ConsoleScript, GrpcHealth, HttpOk, Process
from retrieval.settings import RetrievalSettings

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"
# The settings classes each console-script process reads its environment with.
AGENT = (AgentServiceSettings, LlmSettings)
SETTINGS: dict[str, tuple[type[BaseSettings], ...]] = {
    "retrieval": (RetrievalSettings,),
    "intent": AGENT,
    "tags": AGENT,
    "explain": AGENT,
    "judge": AGENT,
    "nearline": (NearlineSettings,),
    "gateway": (GatewaySettings,),
}


def _variables(settings: type[BaseSettings]) -> set[str]:
    """The environment variables a settings class reads: its prefix and field names, or their aliases."""
    prefix = str(settings.model_config.get("env_prefix", ""))
    names: set[str] = set()
    for name, field in settings.model_fields.items():
        alias = field.validation_alias
        if isinstance(alias, str):
            names.add(alias.upper())
        elif isinstance(alias, AliasChoices):
            names.update(choice.upper() for choice in alias.choices if isinstance(choice, str))
        else:
            names.add(f"{prefix}{name}".upper())
    return names


def test_the_table_is_consistent() -> None:
    registry.check(registry.PROCESSES)
    assert [p.name for p in registry.PROCESSES][:3] == ["redis", "cache-redis", "vllm"]


def test_duplicates_and_unknown_targets_are_refused() -> None:
    retrieval = registry.by_name("retrieval")
    with pytest.raises(ValueError, match="duplicate process names"):
        registry.check([*registry.PROCESSES, retrieval])
    with pytest.raises(ValueError, match="duplicate default ports"):
        registry.check([*registry.PROCESSES, dataclasses.replace(retrieval, name="copy")])
    caller = dataclasses.replace(registry.by_name("gateway"), targets=("nearline",))
    with pytest.raises(ValueError, match="no gRPC process"):
        registry.check([*(p for p in registry.PROCESSES if p.name != "gateway"), caller])


def test_an_entry_that_cannot_be_checked_is_refused() -> None:
    with pytest.raises(ValueError, match="needs a port"):
        Process(name="x", command=ConsoleScript("x"), ready=GrpcHealth("x.v1.X"))
    with pytest.raises(ValueError, match="needs a port or a metrics port"):
        Process(name="x", command=ConsoleScript("x"), ready=HttpOk("/readyz"))
    with pytest.raises(ValueError, match="metrics are served on the internal port"):
        Process(
            name="x",
            command=ConsoleScript("x"),
            ready=HttpOk("/readyz"),
            port=1,
            internal_port=2,
            metrics_port=3,
        )


def test_every_console_script_is_installed() -> None:
    scripts = tomllib.loads(PYPROJECT.read_text())["project"]["scripts"]
    for process in registry.PROCESSES:
        if isinstance(process.command, ConsoleScript):
            assert process.command.name in scripts, process.name


def test_grpc_service_names_come_from_the_generated_code() -> None:
    assert service_names.RETRIEVAL == "recgpt.retrieval.v1.RetrievalService"
    assert service_names.JUDGE == "recgpt.judge.v1.JudgeService"
    served = {p.name: p.grpc_service for p in registry.PROCESSES if p.grpc_service}
    assert served == {
        "retrieval": service_names.RETRIEVAL,
        "intent": service_names.INTENT,
        "tags": service_names.TAGS,
        "explain": service_names.EXPLAIN,
        "judge": service_names.JUDGE,
    }


@pytest.mark.parametrize("name", sorted(SETTINGS))
def test_each_process_reads_every_variable_it_is_given(name: str) -> None:
    """A variable the launcher sets that no settings field reads would be ignored without a word."""
    process = registry.by_name(name)
    addresses = registry.Addresses(registry.PROCESSES, host=lambda _: "h", overrides={})
    every = {p.name for p in registry.PROCESSES}
    llm = registry.LlmEndpoint("http://h:1/v1", "m", agent_engines="tag_expert=m2@http://h:2/v1")
    env = registry.service_env(process, addresses, every, {"catalogue": "/c", "index": "/i"}, llm)
    read = set().union(*(_variables(settings) for settings in SETTINGS[name]))
    unread = set(env) - read
    if name == "nearline":
        # The worker keys freshness by the served model; it calls the engine only through the agents.
        unread -= {"RECGPT_LLM_ENDPOINTS", "RECGPT_LLM_AGENT_ENGINES"}
    assert not unread


def test_an_agents_own_engine_is_the_shared_engines_entry_on_a_port_of_its_own() -> None:
    table = registry.with_merged_engines(registry.PROCESSES, ["tag_expert", "explainer"])
    registry.check(table)
    first = [process.name for process in table].index("vllm")
    shared, expert, explainer = table[first : first + 3]
    assert (expert.name, explainer.name) == ("vllm-tag-expert", "vllm-explainer")
    assert (expert.port, explainer.port) == (registry.MERGED_ENGINE_PORT, registry.MERGED_ENGINE_PORT + 1)
    assert dataclasses.replace(expert, name="vllm", port=shared.port) == shared
    assert registry.with_merged_engines(registry.PROCESSES, []) == registry.PROCESSES
    without_engine = [p for p in registry.PROCESSES if p.name != "vllm"]
    assert registry.with_merged_engines(without_engine, ["tag_expert"]) == tuple(without_engine)


def test_port_settings_name_every_port_once() -> None:
    settings = registry.port_settings()
    assert settings["gateway_port"] == 8080
    assert settings["gateway_internal_port"] == 8081
    assert settings["redis_port"] == 6390
    assert "nearline_port" not in settings
    assert len(set(settings.values())) == len(settings)


def test_the_gateways_metrics_are_scraped_on_its_operators_listener() -> None:
    """Callers reach the public port; /metrics (and the admin API) answer on the internal one only."""
    gateway = registry.by_name("gateway")
    addresses = registry.Addresses(
        registry.PROCESSES, host=lambda _: "h", overrides={"gateway_internal_port": 9}
    )
    assert addresses.scrape_target(gateway) == "h:9"
    assert addresses.internal_url(gateway) == "http://h:9"
    assert addresses.ports(gateway) == {"gateway": 8080, "gateway internal": 9}
    env = registry.service_env(gateway, addresses, set(), {}, None)
    assert (env["RECGPT_PORT"], env["RECGPT_INTERNAL_PORT"]) == ("8080", "9")
    assert [p.name for p in registry.PROCESSES if p.checks_callers] == ["gateway"]


def test_deployment_fields_that_cannot_hold_are_refused() -> None:
    with pytest.raises(ValueError, match="memory limit"):
        registry.Resources(cpu_m=100, memory_mib=512, memory_limit_mib=256)
    with pytest.raises(ValueError, match="a signal exactly when"):
        registry.Scaling(replicas=1, max_replicas=3)
    with pytest.raises(ValueError, match="a signal exactly when"):
        registry.Scaling(replicas=2, max_replicas=2, signal=registry.CpuTarget(70))
    with pytest.raises(ValueError, match="only an HTTP port can be public"):
        dataclasses.replace(registry.by_name("retrieval"), public=True)
    second_face = dataclasses.replace(registry.by_name("gateway"), name="shop", port=8090, internal_port=8091)
    with pytest.raises(ValueError, match="one public face only"):
        registry.check([*registry.PROCESSES, second_face])


def test_the_gateway_is_the_one_public_face_and_every_served_process_scales_from_two() -> None:
    assert [p.name for p in registry.PROCESSES if p.public] == ["gateway"]
    for name in ("gateway", "retrieval", "intent", "tags", "explain", "judge"):
        scaling = registry.by_name(name).scaling
        assert scaling.replicas >= 2 and isinstance(scaling.signal, registry.CpuTarget), name
    assert isinstance(registry.by_name("nearline").scaling.signal, registry.QueueTarget)


def test_each_termination_grace_outlasts_the_prestop_the_drain_and_the_process_s_own_stop_grace() -> None:
    """Kubernetes kills a pod `termination_grace_s` after asking it to stop; by then the preStop sleep, the
    process's drain window and its own stop grace (its longest call, from its settings) must have passed."""
    common = {"redis_url": "redis://127.0.0.1:1/0", "port": 1, "metrics_port": 2, "catalogue_dir": "c"}
    served: dict[str, GatewaySettings | RetrievalSettings | AgentServiceSettings] = {
        "gateway": GatewaySettings.model_validate({**common, "retrieval_target": "127.0.0.1:2"}),
        "retrieval": RetrievalSettings.model_validate({**common, "index_dir": "i"}),
        "intent": AgentServiceSettings.model_validate(common),
    }
    for name, settings in served.items():
        needed = registry.PRE_STOP_S + settings.drain_s + settings.stop_grace_s
        assert registry.by_name(name).termination_grace_s > needed, name
