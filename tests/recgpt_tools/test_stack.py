"""The launcher is a loop over the registry: it refuses busy ports up front, leaves nothing running when
start-up fails, and starts a process added to the table with no other change."""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from unittest.mock import ANY

import pytest
import redis
from pydantic import ValidationError

from gateway.auth.keys import CALLER_SCOPES, ApiKey, Scope, split_presented
from nearline.settings import NearlineSettings
from recgpt_domain.prompt_versions import served_prompt_versions
from recgpt_serving.llm.client import LlmSettings
from recgpt_serving.llm.engines import AgentEngine
from recgpt_tools import deploy_files, processes, readiness, redis_server, registry, run_state, stack_auth
from recgpt_tools.merged_models import MANIFEST as MERGED_MANIFEST
from recgpt_tools.merged_models import MERGED_DIR, MergedManifest
from recgpt_tools.registry import ConsoleScript, GrpcHealth, Process, Starts
from recgpt_tools.run_state import RunState
from recgpt_tools.stack import Launch, Stack, StackError
from recgpt_tools.stack_cli import usage
from recgpt_tools.stack_settings import StackSettings
from recgpt_tools.vllm_engine import AGENT_PRIORITIES
from tests.running_platform import free_stack_ports


def _settings(tmp_path: Path, **overrides: object) -> StackSettings:
    values: dict[str, object] = {
        "var_dir": tmp_path / "var",
        "dataset": tmp_path / "no-such-dataset",
        "llm": False,
        **free_stack_ports(),
        **overrides,
    }
    return StackSettings.model_validate(values)


def test_a_busy_port_is_named_before_anything_starts(tmp_path: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        busy = holder.getsockname()[1]
        stack = Stack(_settings(tmp_path, gateway_port=busy))
        with pytest.raises(StackError, match=f"gateway \\({busy}\\)"):
            stack.up()
    assert processes.recorded(stack.paths.run) == []


def test_a_failed_step_stops_what_was_already_started(tmp_path: Path) -> None:
    stack = Stack(_settings(tmp_path, redis_url=None))
    with pytest.raises(StackError, match="importing"):
        stack.up()
    # The local Redis had started before the import failed; it must be gone again.
    assert (stack.paths.logs / "redis.log").exists()
    assert processes.recorded(stack.paths.run) == []
    with pytest.raises(OSError):
        socket.create_connection(
            ("127.0.0.1", stack.addresses.port(registry.by_name("redis"))), timeout=0.5
        ).close()


def test_a_dead_process_of_an_earlier_start_is_reported(tmp_path: Path) -> None:
    stack = Stack(_settings(tmp_path))
    started = processes.start("retrieval", ["true"], {}, stack.paths.run, stack.paths.logs)
    deadline = time.monotonic() + 5
    while processes.alive(started) and time.monotonic() < deadline:
        time.sleep(0.05)
    with pytest.raises(StackError, match="retrieval of an earlier start no longer running"):
        stack.up()
    stack.down()
    assert processes.recorded(stack.paths.run) == []


def test_each_model_is_served_under_a_name_of_its_own(tmp_path: Path) -> None:
    """Caches and provenance are keyed by the served name: another model must not reuse SmolLM2's."""
    assert Stack(_settings(tmp_path)).served_model_name == "smollm2-135m-instruct"
    other = Stack(_settings(tmp_path, llm_model="Qwen/Qwen2.5-7B-Instruct"))
    assert other.served_model_name == "qwen2.5-7b-instruct"
    assert Stack(_settings(tmp_path, llm_model="/models/Llama-3.1-8B/")).served_model_name == "llama-3.1-8b"


COMMON = {
    "RECGPT_REDIS_PREFIX",
    "RECGPT_LOG_LEVEL",
    "RECGPT_EMBEDDING_MODELS_DIR",
    "RECGPT_TOWERS_DIR",
    "RECGPT_ENTITY_DIR",
    "RECGPT_DRAIN_S",
}


def test_vllm_takes_prompt_embeddings_once_entity_tokens_are_trained(tmp_path: Path) -> None:
    stack = Stack(_settings(tmp_path, llm=True, redis_url="redis://127.0.0.1:1/0"))

    def vllm_command() -> list[str]:
        return next(
            launch.command for launch in stack.plan(stack.run_state()) if launch.process.name == "vllm"
        )

    assert "--enable-prompt-embeds" not in vllm_command()
    assert all(
        launch.env["RECGPT_ENTITY_DIR"] == str(stack.entity_dir) for launch in stack.plan(stack.run_state())
    )
    stack.entity_dir.mkdir(parents=True)
    (stack.entity_dir / "LATEST").write_text("entities-v1\n")
    assert "--enable-prompt-embeds" in vllm_command()


def _own_env(stack: Stack, name: str) -> dict[str, str]:
    """The RECGPT_* variables a process gets for itself: not inherited, not the ones every process gets."""
    launch = next(launch for launch in stack.plan(stack.run_state()) if launch.process.name == name)
    return {
        key: value
        for key, value in launch.env.items()
        if key.startswith("RECGPT_") and key not in COMMON and os.environ.get(key) != value
    }


def test_every_process_gets_its_ports_data_engine_and_targets(tmp_path: Path) -> None:
    stack = Stack(_settings(tmp_path, llm=True, redis_url="redis://127.0.0.1:1/0", gateway_port=18080))
    names = [launch.process.name for launch in stack.plan(stack.run_state())]
    assert names == [
        "vllm", "restore", "retrieval", "intent", "tags", "explain", "judge", "nearline", "gateway"
    ]  # fmt: skip
    ports = stack.settings.ports
    vllm = f"http://127.0.0.1:{ports['vllm_port']}/v1"
    assert _own_env(stack, "tags") == {
        "RECGPT_PORT": str(ports["tags_port"]),
        "RECGPT_METRICS_PORT": str(ports["tags_metrics_port"]),
        "RECGPT_CATALOGUE_DIR": str(stack.paths.catalogue),
        "RECGPT_LLM_ENDPOINTS": vllm,
        "RECGPT_LLM_MODEL": "smollm2-135m-instruct",
        "RECGPT_LLM_AGENT_PRIORITIES": AGENT_PRIORITIES,
    }
    gateway = _own_env(stack, "gateway")
    assert gateway["RECGPT_PORT"] == "18080"
    assert gateway["RECGPT_JUDGE_TARGET"] == f"127.0.0.1:{ports['judge_port']}"
    # RecBot: the feed's command parser.
    assert gateway["RECGPT_INTENT_TARGET"] == f"127.0.0.1:{ports['intent_port']}"
    nearline = _own_env(stack, "nearline")
    assert "RECGPT_PORT" not in nearline
    # The worker's settings require what the launcher gives it; nothing is read from the launcher itself.
    worker = NearlineSettings.model_validate(
        {
            "redis_url": "redis://127.0.0.1:1/0",
            **{k.removeprefix("RECGPT_").lower(): v for k, v in nearline.items()},
        }
    )
    assert worker.metrics_port == ports["nearline_metrics_port"]
    assert worker.tags_target == f"127.0.0.1:{ports['tags_port']}"
    assert nearline["RECGPT_INTENT_TARGET"] == f"127.0.0.1:{ports['intent_port']}"


def test_without_the_llm_only_retrieval_and_the_gateway_run(tmp_path: Path) -> None:
    stack = Stack(_settings(tmp_path, redis_url="redis://127.0.0.1:1/0"))
    state = stack.run_state()
    assert [launch.process.name for launch in stack.plan(state)] == ["restore", "retrieval", "gateway"]
    assert state.vllm_url is None
    assert set(state.targets) == {"retrieval"}
    # Targets of processes that do not run are left out: the gateway then answers without explanations.
    assert not {"RECGPT_EXPLAIN_TARGET", "RECGPT_JUDGE_TARGET"} & set(_own_env(stack, "gateway"))
    printed = usage(state, stack.table).splitlines()
    assert [line.split()[1:3] for line in printed if line.split()[:1] == ["intent"]] == [["not", "started"]]
    assert [line.split()[1:] for line in printed if line.split()[:1] == ["restore"]] == [["(no", "port)"]]


def test_ports_come_from_the_registry_unless_the_environment_overrides_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RECGPT_STACK_TAGS_METRICS_PORT", "19103")
    monkeypatch.setenv("RECGPT_STACK_VAR_DIR", str(tmp_path))
    stack = Stack(StackSettings())
    assert stack.settings.ports == {"tags_metrics_port": 19103}
    state = stack.run_state()
    assert state.metrics_urls["tags"] == "http://127.0.0.1:19103/metrics"
    assert state.targets["retrieval"] == registry.local_target("retrieval")


def test_an_unknown_port_setting_is_refused(tmp_path: Path) -> None:
    with pytest.raises(StackError, match="unknown port settings \\['ranker_port'\\]"):
        Stack(_settings(tmp_path, ranker_port=1234))


def test_down_stops_front_to_back(tmp_path: Path) -> None:
    stack = Stack(_settings(tmp_path))
    names = ["redis", "retrieval", "gateway", "vllm", "intent", "nearline", "restore", "stray"]
    order = stack.stop_order(names)
    assert order == ["stray", "gateway", "nearline", "intent", "retrieval", "restore", "vllm", "redis"]


RANKER = Process(
    name="ranker",
    command=ConsoleScript("recgpt-ranker", ("--fast",)),
    ready=GrpcHealth("recgpt.ranker.v1.RankerService"),
    port=50056,
    metrics_port=9107,
    starts=Starts.WITH_LLM,
    reads=frozenset({"catalogue"}),
    targets=("retrieval",),
)


def test_a_new_process_is_one_entry(tmp_path: Path) -> None:
    """What docs say adding a service takes: the entry, and its name among its caller's targets."""
    gateway = registry.by_name("gateway")
    with_gateway_calling = dataclasses.replace(gateway, targets=(*gateway.targets, "ranker"))
    table = [*(p for p in registry.PROCESSES if p.name != "gateway"), RANKER, with_gateway_calling]
    settings = StackSettings.model_validate(
        {
            "var_dir": tmp_path,
            "redis_url": "redis://127.0.0.1:1/0",
            **free_stack_ports(),
            "ranker_port": 50999,
        }
    )
    stack = Stack(settings, table)

    state = stack.run_state()
    assert state.targets["ranker"] == "127.0.0.1:50999"
    assert state.metrics_urls["ranker"] == "http://127.0.0.1:9107/metrics"
    launch = next(launch for launch in stack.plan(state) if launch.process.name == "ranker")
    assert launch.command[0].endswith("/recgpt-ranker") and launch.command[1:] == ["--fast"]
    assert _own_env(stack, "ranker") == {
        "RECGPT_PORT": "50999",
        "RECGPT_METRICS_PORT": "9107",
        "RECGPT_CATALOGUE_DIR": str(stack.paths.catalogue),
        "RECGPT_LLM_ENDPOINTS": f"{state.vllm_url}/v1",
        "RECGPT_LLM_MODEL": "smollm2-135m-instruct",
        "RECGPT_LLM_AGENT_PRIORITIES": AGENT_PRIORITIES,
        "RECGPT_RETRIEVAL_TARGET": state.targets["retrieval"],
    }
    assert _own_env(stack, "gateway")["RECGPT_RANKER_TARGET"] == "127.0.0.1:50999"
    assert stack.stop_order(["ranker", "gateway", "retrieval"]) == ["gateway", "ranker", "retrieval"]
    assert "ranker" in usage(state, stack.table)
    # Its container and its scrape jobs follow from the same entry.
    compose = deploy_files.compose(table)
    assert '    command: ["recgpt-ranker", "--fast"]' in compose
    assert '      RECGPT_RANKER_TARGET: "ranker:50056"' in compose
    assert '      - targets: ["ranker:9107"]' in deploy_files.prometheus_compose(table)
    assert '      - targets: ["127.0.0.1:9107"]' in deploy_files.prometheus(table)


def test_a_busy_port_of_a_new_process_is_named(tmp_path: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        busy = holder.getsockname()[1]
        table = [*registry.PROCESSES, RANKER]
        stack = Stack(_settings(tmp_path, llm=True, ranker_metrics_port=busy), table)
        with pytest.raises(StackError, match=f"ranker metrics \\({busy}\\)"):
            stack.up()
    assert processes.recorded(stack.paths.run) == []


def test_an_agent_adapter_turns_lora_on_and_the_agents_get_the_folder(tmp_path: Path) -> None:
    stack = Stack(_settings(tmp_path, llm=True, redis_url="redis://127.0.0.1:1/0"))

    def vllm_command() -> list[str]:
        return next(
            launch for launch in stack.plan(stack.run_state()) if launch.process.name == "vllm"
        ).command

    assert "--enable-lora" not in vllm_command(), "no adapter yet: the base model alone"
    assert "RECGPT_LLM_ADAPTERS_DIR" not in _own_env(stack, "tags")
    folder = stack.adapters_dir / "tag_predictor" / "v1"
    folder.mkdir(parents=True)
    for name in ("adapter_config.json", "adapter_model.safetensors"):
        (folder / name).write_text("{}")
    manifest = '{"agent": "tag_predictor", "version": "v1", "base_model": "x", "created_at_unix": 1}'
    (folder / "recgpt_adapter.json").write_text(manifest)
    assert "--enable-lora" in vllm_command()
    vllm = next(launch for launch in stack.plan(stack.run_state()) if launch.process.name == "vllm")
    assert vllm.env["VLLM_ALLOW_RUNTIME_LORA_UPDATING"] == "True"
    assert _own_env(stack, "tags")["RECGPT_LLM_ADAPTERS_DIR"] == str(stack.adapters_dir)
    off = Stack(_settings(tmp_path, llm=True, redis_url="redis://127.0.0.1:1/0", lora="off"))
    assert "RECGPT_LLM_ADAPTERS_DIR" not in _own_env(off, "tags")


def _adapter(stack: Stack, agent: str, version: str, prompt_version: str, created: int) -> None:
    folder = stack.adapters_dir / agent / version
    folder.mkdir(parents=True)
    for name in ("adapter_config.json", "adapter_model.safetensors"):
        (folder / name).write_text("{}")
    manifest = {
        "agent": agent,
        "version": version,
        "base_model": "x",
        "created_at_unix": created,
        "prompt_version": prompt_version,
    }
    (folder / "recgpt_adapter.json").write_text(json.dumps(manifest))


def test_up_says_which_agents_serve_an_adapter_and_which_the_base_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("RECGPT_TAG_MODE", "RECGPT_LLM_ADAPTER_CHOICE", "RECGPT_LLM_AGENT_ADAPTERS"):
        monkeypatch.delenv(name, raising=False)
    stack = Stack(_settings(tmp_path, llm=True, redis_url="redis://127.0.0.1:1/0"))
    assert set(stack.served_agents().values()) == {"base model (LoRA auto)"}
    # The tag agent's newest adapter answers another prompt than the served (choose) one: passed over.
    _adapter(stack, "tag_predictor", "v1", "tags-choose-v1.1", created=1)
    _adapter(stack, "tag_predictor", "v2", "tags-v1.0", created=2)
    served = stack.served_agents()
    assert served["tag_predictor"] == "adapter tag_predictor-v1"
    assert served["interest_miner"] == "base model (no adapter trained on interests-v1.0)"
    monkeypatch.setenv("RECGPT_TAG_MODE", "generate")
    assert stack.served_agents()["tag_predictor"] == "adapter tag_predictor-v2"
    monkeypatch.setenv("RECGPT_LLM_AGENT_ADAPTERS", "tag_predictor=v9")
    assert stack.served_agents()["tag_predictor"].startswith("base model (tag_predictor: no adapter version")
    monkeypatch.setenv("RECGPT_TAG_MODE", "write")
    with pytest.raises(StackError, match="RECGPT_TAG_MODE"):
        stack.served_agents()
    off = Stack(_settings(tmp_path, llm=True, redis_url="redis://127.0.0.1:1/0", lora="off"))
    monkeypatch.delenv("RECGPT_TAG_MODE")
    assert set(off.served_agents().values()) == {"base model (LoRA off)"}
    printed = usage(stack.run_state(), stack.table, "recgpt-stack", agents=off.served_agents())
    assert "  tag_predictor   base model (LoRA off)" in printed.splitlines()
    assert Stack(_settings(tmp_path)).served_agents() == {}


def test_the_agents_are_told_their_priorities_on_the_engine_the_stack_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RECGPT_LLM_AGENT_PRIORITIES", raising=False)
    stack = Stack(_settings(tmp_path, llm=True, redis_url="redis://127.0.0.1:1/0"))
    vllm = next(launch for launch in stack.plan(stack.run_state()) if launch.process.name == "vllm")
    assert vllm.command[vllm.command.index("--scheduling-policy") + 1] == "priority"
    told = _own_env(stack, "explain")["RECGPT_LLM_AGENT_PRIORITIES"]
    assert told == AGENT_PRIORITIES and "explainer=1" in told
    monkeypatch.setenv("RECGPT_LLM_AGENT_PRIORITIES", "explainer=3")
    launch = next(launch for launch in stack.plan(stack.run_state()) if launch.process.name == "tags")
    assert launch.env["RECGPT_LLM_AGENT_PRIORITIES"] == "explainer=3", "set: the environment's"


def test_the_engine_pads_adapters_to_the_least_rank_that_fits_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RECGPT_VLLM_MAX_LORA_RANK", raising=False)
    stack = Stack(_settings(tmp_path, llm=True, redis_url="redis://127.0.0.1:1/0"))

    def served_rank() -> tuple[str, str]:
        vllm = next(launch for launch in stack.plan(stack.run_state()) if launch.process.name == "vllm")
        return vllm.command[vllm.command.index("--max-lora-rank") + 1], _own_env(stack, "tags")[
            "RECGPT_LLM_MAX_LORA_RANK"
        ]

    for version, rank, expected in (("v1", 8, "8"), ("v2", 12, "16")):
        folder = stack.adapters_dir / "explainer" / version
        folder.mkdir(parents=True)
        (folder / "adapter_config.json").write_text(f'{{"peft_type": "LORA", "r": {rank}}}')
        (folder / "adapter_model.safetensors").write_text("{}")
        manifest = {"agent": "explainer", "version": version, "base_model": "x", "created_at_unix": 1}
        (folder / "recgpt_adapter.json").write_text(json.dumps(manifest))
        # Rank 8 alone: 8 (not vLLM's 64, which made the CPU engine copy 8 times the weights per token);
        # with a rank-12 adapter beside it, the next rank vLLM takes.
        assert served_rank() == (expected, expected)
    monkeypatch.setenv("RECGPT_VLLM_MAX_LORA_RANK", "32")
    assert served_rank() == ("32", "32")
    monkeypatch.setenv("RECGPT_VLLM_MAX_LORA_RANK", "eight")
    with pytest.raises(StackError, match="not a LoRA rank"):
        served_rank()


def test_exec_hands_the_running_platforms_addresses_to_a_command(tmp_path: Path) -> None:
    keys = stack_auth.load_or_create_keys(tmp_path / "auth" / stack_auth.DEV_KEYS_FILE)
    state = RunState(
        redis_url="redis://127.0.0.1:7/0",
        redis_prefix="p",
        catalogue_dir=tmp_path / "catalogue",
        urls={"gateway": "http://127.0.0.1:8080"},
        targets={"retrieval": "127.0.0.1:50051"},
        metrics_urls={},
        keys_file=tmp_path / "auth" / stack_auth.DEV_KEYS_FILE,
    )
    run_state.write(tmp_path / "run" / run_state.FILE_NAME, state)
    printed = subprocess.run(
        [str(Path(sys.executable).parent / "recgpt-stack"), "exec", "--", sys.executable, "-c",
         "import os; print(os.environ['REDIS_URL'], os.environ['RECGPT_RETRIEVAL_TARGET'],"
         " os.environ['RECGPT_GATEWAY_URL'], os.environ['RECGPT_REDIS_PREFIX'],"
         " os.environ['RECGPT_API_KEY'])"],
        env={**os.environ, "RECGPT_STACK_VAR_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        check=True,
    )  # fmt: skip
    assert printed.stdout.split() == [
        "redis://127.0.0.1:7/0",
        "127.0.0.1:50051",
        "http://127.0.0.1:8080",
        "p",
        keys.dev.presented,
    ]


def test_exec_without_a_running_platform_says_so(tmp_path: Path) -> None:
    result = subprocess.run(
        [str(Path(sys.executable).parent / "recgpt-stack"), "exec", "--", "true"],
        env={**os.environ, "RECGPT_STACK_VAR_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert "is the platform up" in result.stderr


def test_the_gateway_gets_its_operators_port_and_the_development_user_token_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RECGPT_STACK_VAR_DIR", str(tmp_path))
    monkeypatch.setenv("RECGPT_STACK_GATEWAY_INTERNAL_PORT", "18081")
    monkeypatch.setenv("RECGPT_INTERNAL_PORT", "1")  # the launcher's own environment is not handed down
    stack = Stack(StackSettings(llm=False))
    state = stack.run_state()
    assert state.urls["gateway-internal"] == "http://127.0.0.1:18081"
    assert state.metrics_urls["gateway"] == "http://127.0.0.1:18081/metrics"
    assert state.keys_file == stack.paths.dev_keys
    gateway = _own_env(stack, "gateway")
    assert gateway["RECGPT_INTERNAL_PORT"] == "18081"
    secret = stack.paths.user_token_secret
    assert gateway["RECGPT_USER_TOKEN_SECRET"] == secret.read_text().strip()
    assert secret.stat().st_mode & 0o777 == 0o600
    assert "RECGPT_USER_TOKEN_SECRET" not in _own_env(stack, "retrieval")
    # Made once: a restart keeps the secret, so tokens minted before it still verify.
    assert (
        _own_env(Stack(StackSettings(llm=False)), "gateway")["RECGPT_USER_TOKEN_SECRET"]
        == (gateway["RECGPT_USER_TOKEN_SECRET"])
    )


def test_the_readiness_check_of_the_gateway_stays_on_its_public_port(tmp_path: Path) -> None:
    stack = Stack(_settings(tmp_path, redis_url="redis://127.0.0.1:1/0", gateway_port=18080))
    check = readiness.ready_check(registry.by_name("gateway"), stack.run_state())
    assert isinstance(check, functools.partial)
    assert check.args == ("http://127.0.0.1:18080/readyz",)


def test_the_first_requests_printed_carry_the_key_and_name_the_operators_listener(tmp_path: Path) -> None:
    stack = Stack(_settings(tmp_path, redis_url="redis://127.0.0.1:1/0"))
    state = stack.run_state()
    internal = state.urls["gateway-internal"]
    printed = usage(state, stack.table, stack_command=".venv/bin/recgpt-stack")
    assert f"API docs (operators): {internal}/docs" in printed
    curls = [line for line in printed.splitlines() if "curl -s -X POST" in line]
    assert curls and all('-H "authorization: Bearer $(.venv/bin/recgpt-stack api-key)"' in c for c in curls)
    assert "$(.venv/bin/recgpt-stack api-key --admin)" in printed
    assert f"curl -s {internal}/v1/admin/experiments/current" in printed
    # The key itself never appears: `make run`'s output may be kept in a log.
    assert stack_auth.load_or_create_keys(stack.paths.dev_keys).dev.presented not in printed


@pytest.fixture
def keys_in_redis(redis_url: str, redis_prefix: str) -> Iterator[KeyStoreReader]:
    """The keys stored under the test's prefix, read back; deleted afterwards."""
    client = redis.Redis.from_url(redis_url)

    def read() -> dict[str, ApiKey]:
        raw = client.hgetall(f"{redis_prefix}:{{auth}}:keys")
        return {key.key_id: key for key in (ApiKey.model_validate_json(r) for r in raw.values())}

    try:
        yield read
    finally:
        stale = list(client.scan_iter(match=f"{redis_prefix}:*"))
        if stale:
            client.delete(*stale)
        client.close()


KeyStoreReader = Callable[[], dict[str, ApiKey]]


def test_up_stores_the_development_and_admin_keys_once(
    tmp_path: Path, redis_url: str, redis_prefix: str, keys_in_redis: KeyStoreReader
) -> None:
    stack = Stack(_settings(tmp_path, redis_url=redis_url, redis_prefix=redis_prefix))
    state = stack.run_state()
    stack.store_keys(state)
    keys = stack_auth.load_keys(stack.paths.dev_keys)
    assert stack.paths.dev_keys.stat().st_mode & 0o777 == 0o600
    stored = keys_in_redis()
    assert stored == {key.key_id: key for key in keys.records()}
    dev, admin = stored[keys.dev.record.key_id], stored[keys.admin.record.key_id]
    assert (dev.name, dev.scopes, dev.rate_per_s) == ("dev", CALLER_SCOPES, stack_auth.DEV_RATE_PER_S)
    assert (admin.name, admin.scopes) == ("admin", frozenset(Scope))
    assert split_presented(keys.dev.presented) == (dev.key_id, ANY)
    assert dev.matches(keys.dev.presented.removeprefix(f"rgk_{dev.key_id}_"))
    # A second start reuses the file and leaves Redis's records as they are: a revoked key stays revoked.
    stack_auth.revoke(redis_url, redis_prefix, dev.key_id)
    Stack(stack.settings).store_keys(state)
    assert stack_auth.load_keys(stack.paths.dev_keys) == keys
    assert keys_in_redis()[dev.key_id].revoked


def test_keys_are_stored_before_the_gateway_starts_and_a_stopped_redis_is_one_line(tmp_path: Path) -> None:
    stack = Stack(_settings(tmp_path, redis_url=f"redis://127.0.0.1:{free_stack_ports()['redis_port']}/0"))
    with pytest.raises(StackError, match=r"cannot reach the key store in Redis at redis://127\.0\.0\.1:"):
        stack.up()
    assert processes.recorded(stack.paths.run) == []
    assert not (stack.paths.logs / "gateway.log").exists()


def _redis_launch(stack: Stack) -> Launch:
    return next(launch for launch in stack.plan(stack.run_state()) if launch.process.name == "redis")


def _flag(command: list[str], name: str) -> str:
    return command[command.index(name) + 1]


def test_the_local_redis_keeps_an_append_only_file_under_var_and_refuses_writes_past_its_bound(
    tmp_path: Path,
) -> None:
    stack = Stack(_settings(tmp_path, redis_url=None))
    command = _redis_launch(stack).command
    assert _flag(command, "--appendonly") == "yes" and _flag(command, "--appendfsync") == "everysec"
    assert _flag(command, "--dir") == str(stack.paths.redis) == str((tmp_path / "var" / "redis").resolve())
    assert _flag(command, "--maxmemory") == "1gb"
    assert _flag(command, "--maxmemory-policy") == "noeviction"
    assert _flag(command, "--save") == ""
    chosen = Stack(_settings(tmp_path, redis_url=None, redis_appendfsync="always", redis_maxmemory="256mb"))
    command = _redis_launch(chosen).command
    assert (_flag(command, "--appendfsync"), _flag(command, "--maxmemory")) == ("always", "256mb")
    with pytest.raises(ValidationError):
        _settings(tmp_path, redis_appendfsync="no")
    with pytest.raises(ValidationError):
        _settings(tmp_path, redis_maxmemory="lots")
    # REDIS_URL given: that Redis is left as it is, none is started.
    external = Stack(_settings(tmp_path, redis_url="redis://127.0.0.1:1/0"))
    assert "redis" not in [launch.process.name for launch in external.plan(external.run_state())]


def test_the_caches_get_a_redis_of_their_own_that_evicts_past_its_bound_unless_one_is_given(
    tmp_path: Path,
) -> None:
    stack = Stack(_settings(tmp_path, redis_url=None, cache_redis_url=None, cache_redis_maxmemory="64mb"))
    state = stack.run_state()
    launches = {launch.process.name: launch for launch in stack.plan(state)}
    command = launches["cache-redis"].command
    assert _flag(command, "--maxmemory") == "64mb"
    assert _flag(command, "--maxmemory-policy") == "allkeys-lru"
    assert _flag(command, "--appendonly") == "no"
    assert _flag(command, "--dir") == str((tmp_path / "var" / "cache-redis").resolve())
    assert state.cache_redis_url is not None and state.cache_redis_url != state.redis_url
    # Every process is told where the caches are, and so is a command run against the platform.
    told = {launch.env.get("RECGPT_CACHE_REDIS_URL") for launch in launches.values()}
    assert told == {state.cache_redis_url}
    without_keys = state.model_copy(update={"keys_file": None})
    assert without_keys.client_env()["RECGPT_CACHE_REDIS_URL"] == state.cache_redis_url
    with pytest.raises(ValidationError):
        _settings(tmp_path, cache_redis_maxmemory="lots")
    # A cache Redis given: none is started, and every process is pointed at it.
    given = Stack(_settings(tmp_path, redis_url=None, cache_redis_url="redis://127.0.0.1:2/0"))
    launches = {launch.process.name: launch for launch in given.plan(given.run_state())}
    assert "cache-redis" not in launches and "redis" in launches
    assert launches["gateway"].env["RECGPT_CACHE_REDIS_URL"] == "redis://127.0.0.1:2/0"
    # REDIS_URL alone: that Redis holds the caches too, as its operator configured it.
    external = Stack(_settings(tmp_path, redis_url="redis://127.0.0.1:1/0", cache_redis_url=None))
    state = external.run_state()
    launches = {launch.process.name: launch for launch in external.plan(state)}
    assert "cache-redis" not in launches and state.cache_redis_url is None
    assert "RECGPT_CACHE_REDIS_URL" not in launches["gateway"].env


def _pid_alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _until(condition: Callable[[], bool], timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def test_a_killed_process_comes_back_status_counts_it_and_down_leaves_nothing_running(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stack = Stack(_settings(tmp_path, redis_url=None, restart_backoff_s=0.1))
    state = stack.run_state()
    started = stack.start(_redis_launch(stack))
    port = stack.addresses.port(registry.by_name("redis"))
    assert port is not None
    children: list[int] = []
    try:
        _until(lambda: readiness.ready_check(registry.by_name("redis"), state)())
        first = processes.supervision(stack.paths.run, "redis")
        assert first is not None and first.pid is not None
        children.append(first.pid)
        os.kill(first.pid, signal.SIGKILL)

        def restarted() -> bool:
            record = processes.supervision(stack.paths.run, "redis")
            return record is not None and record.restarts == 1 and record.pid is not None

        _until(restarted)
        _until(lambda: redis_server.ping(port))
        again = processes.supervision(stack.paths.run, "redis")
        assert again is not None and again.pid is not None
        children.append(again.pid)
        capsys.readouterr()
        assert stack.status() == 0
        line = capsys.readouterr().out.splitlines()[0].split()
        assert line[:7] == ["redis", "pid", str(again.pid), "running", "restarts", "1", "(last"]
        assert line[7:10] == ["exit", "-9", "(SIGKILL))"]
    finally:
        stack.down()
    assert not processes.alive(started)
    assert not any(_pid_alive(pid) for pid in children)
    assert processes.recorded(stack.paths.run) == []
    assert not redis_server.ping(port)
    assert stack.status() == 1


def test_a_process_that_exits_during_start_up_fails_the_start_though_it_is_restarted(tmp_path: Path) -> None:
    stack = Stack(_settings(tmp_path, redis_url="redis://127.0.0.1:1/0", restart_backoff_s=0.05))
    retrieval = registry.by_name("retrieval")
    failing = Launch(retrieval, [sys.executable, "-c", "raise SystemExit(3)"], dict(os.environ))
    stack.start(failing)
    try:
        with pytest.raises(StackError, match=r"retrieval exited during start-up with 3; see .*\.log"):
            stack._wait_ready([retrieval], stack.run_state(), since=time.time())
    finally:
        stack.down()
    assert processes.recorded(stack.paths.run) == []


def _merged_model(stack: Stack, version: str, source: dict[str, object] | None = None) -> Path:
    """What `make merge-adapter` leaves: the folder and its manifest (weights need not be real here)."""
    folder = stack.paths.models / MERGED_DIR / f"tag_expert-{version}"
    folder.mkdir(parents=True)
    manifest = MergedManifest(
        agent="tag_expert",
        adapter_version=version,
        served_name=folder.name,
        base_model="smollm2-135m-instruct",
        base_model_source=source or {},
        adapter_sha256={},
        dtype="bfloat16",
        created_at="2026-12-01T00:00:00Z",
    )
    (folder / MERGED_MANIFEST).write_text(manifest.model_dump_json())
    return folder


def _merged_stack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, agents: str = "tag_expert") -> Stack:
    for name in ("RECGPT_TAG_MODE", "RECGPT_LLM_ADAPTER_CHOICE", "RECGPT_LLM_AGENT_ADAPTERS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("RECGPT_STACK_MERGED_AGENTS", agents)
    settings = StackSettings.model_validate(
        {
            "var_dir": tmp_path / "var",
            "dataset": tmp_path / "no-such-dataset",
            "llm": True,
            "redis_url": "redis://127.0.0.1:1/0",
            **free_stack_ports(),
        }
    )
    return Stack(settings)


def test_a_merged_agent_gets_an_engine_of_its_own_and_every_service_its_address(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack = _merged_stack(tmp_path, monkeypatch)
    _adapter(stack, "tag_expert", "v1", served_prompt_versions()["tag_expert"], created=1)
    _adapter(stack, "explainer", "e1", served_prompt_versions()["explainer"], created=1)
    with pytest.raises(StackError, match="`make merge-adapter AGENT=tag_expert VERSION=v1`"):
        stack.plan(stack.run_state())
    folder = _merged_model(stack, "v1")

    state = stack.run_state()
    launches = {launch.process.name: launch for launch in stack.plan(state)}
    assert list(launches)[:2] == ["vllm", "vllm-tag-expert"]
    shared, own = launches["vllm"], launches["vllm-tag-expert"]
    assert own.command[own.command.index("--model") + 1] == str(folder)
    assert own.command[own.command.index("--served-model-name") + 1] == "tag_expert-v1"
    assert "--enable-lora" in shared.command and "--enable-lora" not in own.command
    assert own.command[own.command.index("--scheduling-policy") + 1] == "priority"
    assert own.env["VLLM_CPU_KVCACHE_SPACE"] == "1" < shared.env["VLLM_CPU_KVCACHE_SPACE"]
    assert own.env["VLLM_CPU_OMP_THREADS_BIND"] == shared.env["VLLM_CPU_OMP_THREADS_BIND"]
    engine = f"http://127.0.0.1:{registry.MERGED_ENGINE_PORT}"
    assert state.urls["vllm-tag-expert"] == engine
    told = f"tag_expert=tag_expert-v1@{engine}/v1"
    for name in ("intent", "tags", "explain", "judge"):
        assert _own_env(stack, name)["RECGPT_LLM_AGENT_ENGINES"] == told, name
    read = LlmSettings.model_validate({"endpoints": f"{state.vllm_url}/v1", "agent_engines": told})
    assert read.agent_engines == {"tag_expert": AgentEngine("tag_expert-v1", f"{engine}/v1")}
    served = stack.served_agents()
    assert served["tag_expert"] == "merged engine vllm-tag-expert (tag_expert-v1)"
    assert served["explainer"] == "adapter explainer-e1"
    printed = usage(state, stack.table, "recgpt-stack", agents=served).splitlines()
    assert "  tag_expert      merged engine vllm-tag-expert (tag_expert-v1)" in printed
    assert any(line.split()[:2] == ["vllm-tag-expert", engine] for line in printed)
    assert stack.stop_order(["vllm", "vllm-tag-expert", "tags"]) == ["tags", "vllm-tag-expert", "vllm"]


def test_a_merged_agent_is_refused_without_an_adapter_or_on_another_base_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(StackError, match="no agent 'poet'"):
        _merged_stack(tmp_path, monkeypatch, "poet").merged_engines()
    stack = _merged_stack(tmp_path, monkeypatch)
    with pytest.raises(StackError, match="tag_expert has no adapter trained on"):
        stack.served_agents()
    _adapter(stack, "tag_expert", "v1", served_prompt_versions()["tag_expert"], created=1)
    stack.model_folder.mkdir(parents=True)
    (stack.model_folder / "recgpt-source.json").write_text('{"gguf": "SmolLM2-135M.gguf", "size": 1}')
    _merged_model(stack, "v1", source={"gguf": "SmolLM2-360M.gguf", "size": 2})
    with pytest.raises(StackError, match=r"merged into a base folder made from .*SmolLM2-360M"):
        stack.served_agents()
    with pytest.raises(ValidationError, match="named twice"):
        StackSettings(merged_agents="tag_expert,tag_expert")
