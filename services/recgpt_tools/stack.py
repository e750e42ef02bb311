"""`recgpt-stack up|down|status|url NAME|exec`: the whole platform on one machine, each part its own process.

`up` prepares what is missing (catalogue, FAISS index, model folder; each skipped when fresh) and starts the
processes of the registry (recgpt_tools.registry) that this start runs: Redis when `REDIS_URL` is unset, vLLM,
the agents and the near-line worker when the LLM is on (and an engine of its own for each agent of
RECGPT_STACK_MERGED_AGENTS: recgpt_tools.merged_models), retrieval and the gateway always; then it polls each
until ready. Before the gateway starts, its API keys (made once in `<var>/auth/`) are stored in Redis.
Each process runs under a supervisor of its own that restarts it when it exits, with a capped backoff
(recgpt_tools.supervisor); `status` shows each one's restarts and last exit. The local Redis is durable: an
append-only file under `<var>/redis/`, a memory bound that refuses writes rather than evicting
(recgpt_tools.redis_server); the caches (profiles, explanations) get a Redis of their own, bounded by
evicting the least recently used, so that they never crowd state out. `restore` (`recgpt-import --follow`)
loads the catalogue's behaviour into Redis again whenever Redis comes back without it.
`down` stops exactly the processes that `up` recorded in `<var>/run/`, front to back, each with its
supervisor (which therefore restarts nothing that `down` stops). `url NAME` prints the
HTTP root of a running process (gateway, gateway-internal, vllm). The credentials' commands (`api-key`,
`keys`, `user-token`) are in recgpt_tools.stack_cli.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn, cast, get_args

from pydantic import ValidationError

from recgpt_domain.artefact_store import ArtefactStoreSettings
from recgpt_domain.prompt_versions import DEFAULT_TAG_MODE, TagMode, served_prompt_versions
from recgpt_serving.context import parse_adapter_choices
from recgpt_serving.llm import adapter_files
from recgpt_serving.llm.models import DEFAULT_MODEL_NAME
from recgpt_tools import (
    artefact_sync,
    merged_models,
    processes,
    redis_server,
    registry,
    run_state,
    stack_auth,
    stack_cli,
    supervisor,
    vllm_engine,
)
from recgpt_tools.merged_models import MergedEngine, MergeError
from recgpt_tools.readiness import port_free, ready_check
from recgpt_tools.registry import ConsoleScript, Engine, Phase, Process, Starts
from recgpt_tools.run_state import RunState, RunStateError
from recgpt_tools.stack_settings import StackSettings
from recgpt_tools.supervisor import RestartPolicy

LOCAL_HOST = "127.0.0.1"


class StackError(RuntimeError):
    """The platform could not be brought up; the message says which part and where its log is."""


class StackPaths:
    def __init__(self, var_dir: Path, models_dir: Path | None = None) -> None:
        self.root = var_dir.resolve()
        self.run = self.root / "run"
        self.logs = self.root / "log"
        self.catalogue = self.root / "catalogue"
        self.index = self.root / "index"
        self.models = models_dir.resolve() if models_dir else self.root / "models"
        self.adapters = self.root / "adapters"
        self.redis = self.root / "redis"
        self.cache_redis = self.root / "cache-redis"
        self.state = self.run / run_state.FILE_NAME
        # The development credentials, readable by their owner only (recgpt_tools.stack_auth).
        self.auth = self.root / "auth"
        self.dev_keys = self.auth / stack_auth.DEV_KEYS_FILE
        self.user_token_secret = self.auth / stack_auth.USER_TOKEN_SECRET_FILE


@dataclass(frozen=True)
class Step:
    """A command that must succeed before a process starts (e.g. converting the model for vLLM)."""

    title: str
    command: list[str]


@dataclass(frozen=True)
class Launch:
    """How one process is started: its command, its whole environment, what must exist before it."""

    process: Process
    command: list[str]
    env: dict[str, str]
    steps: tuple[Step, ...] = ()
    folders: tuple[Path, ...] = ()
    note: str = ""


def _script(name: str) -> str:
    """A console script of this installation, beside the running interpreter."""
    return str(Path(sys.executable).parent / name)


def _say(message: str) -> None:
    print(f"[stack] {message}", flush=True)


def _note(message: str) -> None:
    """A line for the person at the terminal, kept off stdout where a command prints only its value."""
    print(f"[stack] {message}", file=sys.stderr, flush=True)


def _run_step(step: Step, env: dict[str, str]) -> None:
    _say(step.title)
    started = time.monotonic()
    result = subprocess.run(step.command, env=env, check=False)
    if result.returncode != 0:
        raise StackError(f"failed: {step.title} (exit {result.returncode}): {' '.join(step.command)}")
    _say(f"  done in {time.monotonic() - started:.1f} s")


class Stack:
    def __init__(self, settings: StackSettings, table: Sequence[Process] = registry.PROCESSES) -> None:
        """`table`: the processes to run, in start order (the registry's unless a test brings its own); an
        engine of its own joins it for each agent of RECGPT_STACK_MERGED_AGENTS."""
        table = registry.with_merged_engines(table, settings.merged_agents)
        try:
            registry.check(table)
        except ValueError as error:
            raise StackError(f"registry: {error}") from None
        known = registry.port_settings(table)
        unknown = sorted(set(settings.ports) - set(known))
        if unknown:
            raise StackError(f"unknown port settings {unknown}; known: {', '.join(known)}")
        self.settings = settings
        self.table = tuple(table)
        self.paths = StackPaths(settings.var_dir, settings.models_dir)
        self.addresses = registry.Addresses(self.table, host=lambda _: LOCAL_HOST, overrides=settings.ports)

    # -- what a start runs ----------------------------------------------------------------------

    def started_processes(self) -> list[Process]:
        """The processes this start runs, in start order."""
        return [process for process in self.table if self._runs(process)]

    def _runs(self, process: Process) -> bool:
        if process.starts is Starts.WITH_LLM:
            return self.settings.llm
        if process.starts is Starts.WITHOUT_REDIS_URL:
            return not self.settings.redis_url
        if process.starts is Starts.WITHOUT_ANY_REDIS_URL:
            return not (self.settings.redis_url or self.settings.cache_redis_url)
        return True

    def run_state(self) -> RunState:
        """Where everything this start runs will be: known before anything starts."""
        started = self.started_processes()
        urls = {p.name: self.addresses.url(p.name) for p in started if p.serves_http}
        urls |= {f"{p.name}-internal": url for p in started if (url := self.addresses.internal_url(p))}
        return RunState(
            redis_url=self.settings.redis_url or self._local_redis_url(started),
            cache_redis_url=self.settings.cache_redis_url or self._local_cache_redis_url(started),
            redis_prefix=self.settings.redis_prefix,
            catalogue_dir=self.paths.catalogue,
            urls=urls,
            targets={p.name: self.addresses.target(p.name) for p in started if p.grpc_service},
            metrics_urls={p.name: url for p in started if (url := self.addresses.metrics_url(p))},
            keys_file=self.paths.dev_keys if self._checks_callers(started) else None,
        )

    @staticmethod
    def _checks_callers(started: Sequence[Process]) -> bool:
        return any(process.checks_callers for process in started)

    def _local_redis_url(self, started: list[Process]) -> str:
        local = [p for p in started if p.command is Engine.REDIS]
        if not local:
            raise StackError("REDIS_URL is unset and the registry starts no Redis")
        return f"redis://{self.addresses.target(local[0].name)}/0"

    def _local_cache_redis_url(self, started: list[Process]) -> str | None:
        """The cache Redis this start runs; None: none runs, and the state Redis holds the caches."""
        local = [p for p in started if p.command is Engine.CACHE_REDIS]
        return f"redis://{self.addresses.target(local[0].name)}/0" if local else None

    def plan(self, state: RunState) -> list[Launch]:
        """How each process of this start is launched, in start order."""
        env = self._base_env(state)
        started = self.started_processes()
        names = {process.name for process in started}
        merged = self.merged_engines() if self.settings.llm else {}
        return [self._launch(process, state, env, names, merged) for process in started]

    def _launch(
        self,
        process: Process,
        state: RunState,
        env: dict[str, str],
        started: set[str],
        merged: dict[str, MergedEngine],
    ) -> Launch:
        command = process.command
        if isinstance(command, ConsoleScript):
            data_dirs: dict[registry.Data, str] = {
                "catalogue": str(self.paths.catalogue),
                "index": str(self.paths.index),
            }
            llm = None
            if state.vllm_url:
                lora = self.serves_adapters
                llm = registry.LlmEndpoint(
                    f"{state.vllm_url}/v1",
                    self.served_model_name,
                    adapters_dir=str(self.adapters_dir) if lora else None,
                    base_model_dir=str(self.model_folder) if lora and self.model_folder.is_dir() else None,
                    max_lora_rank=self.lora_rank if lora else None,
                    agent_priorities=self.agent_priorities,
                    agent_engines=_agent_engines(merged, state) if merged else None,
                )
            own = registry.service_env(process, self.addresses, started, data_dirs, llm)
            if process.checks_callers:
                # Always the file's secret, so that `recgpt-stack user-token` mints tokens it accepts.
                own["RECGPT_USER_TOKEN_SECRET"] = self._user_token_secret()
            return Launch(process, [_script(command.name), *command.args], {**env, **own})
        if command is Engine.REDIS:
            return self._redis_launch(process, env)
        if command is Engine.CACHE_REDIS:
            return self._cache_redis_launch(process, env)
        if process.name in merged:
            return self._merged_vllm_launch(process, env, merged[process.name])
        return self._vllm_launch(process, env)

    def _redis_launch(self, process: Process, env: dict[str, str]) -> Launch:
        try:
            command = redis_server.command(self._port(process), self.paths.redis, durability=self.durability)
        except FileNotFoundError as error:
            raise StackError(f"REDIS_URL unset and {error}") from None
        note = f"REDIS_URL unset; append-only file in {self.paths.redis}"
        return Launch(process, command, env, folders=(self.paths.redis,), note=note)

    def _cache_redis_launch(self, process: Process, env: dict[str, str]) -> Launch:
        bound = redis_server.CacheBound(self.settings.cache_redis_maxmemory)
        try:
            command = redis_server.command(self._port(process), self.paths.cache_redis, durability=bound)
        except FileNotFoundError as error:
            raise StackError(f"REDIS_URL unset and {error}") from None
        where = self.paths.cache_redis
        note = f"caches, at most {bound.maxmemory}, least recently used evicted; snapshots in {where}"
        return Launch(process, command, env, folders=(self.paths.cache_redis,), note=note)

    @property
    def durability(self) -> redis_server.Durability:
        return redis_server.Durability(self.settings.redis_appendfsync, self.settings.redis_maxmemory)

    @property
    def restart_policy(self) -> RestartPolicy:
        try:
            return RestartPolicy(self.settings.restart_backoff_s, self.settings.restart_backoff_max_s)
        except ValueError as error:
            raise StackError(f"RECGPT_STACK_RESTART_*: {error}") from None

    def _vllm_launch(self, process: Process, env: dict[str, str]) -> Launch:
        steps: tuple[Step, ...] = ()
        model = self.settings.llm_model
        if not model:
            folder = self.paths.models / DEFAULT_MODEL_NAME
            steps = (Step("preparing the model folder", [_script("recgpt-llm-model"), "--out", str(folder)]),)
            model = str(folder)
        engine = vllm_engine.EngineSettings(
            model=model,
            port=self._port(process),
            served_model_name=self.served_model_name,
            enable_lora=self.serves_adapters,
            max_lora_rank=self.lora_rank,
            enable_prompt_embeds=self.serves_entity_tokens,
        )
        return Launch(
            process,
            vllm_engine.vllm_command(engine),
            vllm_engine.vllm_env(engine, env),
            steps,
            note=f"{model}; it takes a minute or two on a CPU",
        )

    def _merged_vllm_launch(self, process: Process, env: dict[str, str], merged: MergedEngine) -> Launch:
        """An agent's own engine: the shared one's flags and cores, its merged folder, no LoRA, less cache."""
        engine = vllm_engine.EngineSettings(
            model=str(merged.folder),
            port=self._port(process),
            served_model_name=merged.model,
            enable_lora=False,
            enable_prompt_embeds=self.serves_entity_tokens,
            cpu_kvcache_gib=merged_models.KVCACHE_GIB,
        )
        return Launch(
            process,
            vllm_engine.vllm_command(engine),
            vllm_engine.vllm_env(engine, env),
            note=f"{merged.agent}'s adapter merged: {merged.folder}",
        )

    def _user_token_secret(self) -> str:
        try:
            return stack_auth.load_or_create_secret(self.paths.user_token_secret)
        except stack_auth.AuthError as error:
            raise StackError(str(error)) from None

    def _port(self, process: Process) -> int:
        port = self.addresses.port(process)
        if port is None:
            raise StackError(f"{process.name} has no port")
        return port

    def _base_env(self, state: RunState) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            {
                "REDIS_URL": state.redis_url,
                "RECGPT_REDIS_PREFIX": self.settings.redis_prefix,
                "RECGPT_LOG_LEVEL": self.settings.log_level,
                **({"RECGPT_CACHE_REDIS_URL": state.cache_redis_url} if state.cache_redis_url else {}),
                "HF_HUB_OFFLINE": "1",
                "TRANSFORMERS_OFFLINE": "1",
                "PYTHONUNBUFFERED": "1",
            }
        )
        # The embedding model, converted once for the index builder, retrieval and tags.
        env.setdefault("RECGPT_EMBEDDING_MODELS_DIR", str(self.paths.models / "embedding"))
        # Where `make train-retrieval` writes the towers artefacts; retrieval serves the one LATEST names.
        env.setdefault("RECGPT_TOWERS_DIR", str(self.paths.models / "towers"))
        # Where `make train-adaptor` writes the entity tokens; the agents load the one LATEST names.
        env.setdefault("RECGPT_ENTITY_DIR", str(self.entity_dir))
        # No load balancer on one machine takes a stopping process out of rotation: it stops at once.
        env.setdefault("RECGPT_DRAIN_S", "0")
        # Every process gets exactly the ports and targets the launcher sets, none inherited.
        for name in ("RECGPT_PORT", "RECGPT_METRICS_PORT", "RECGPT_INTERNAL_PORT"):
            env.pop(name, None)
        return env

    @property
    def adapters_dir(self) -> Path:
        return (self.settings.adapters_dir or self.paths.adapters).resolve()

    @property
    def model_folder(self) -> Path:
        """The base model's folder (the converted default, or RECGPT_STACK_LLM_MODEL when it is one)."""
        return (
            Path(self.settings.llm_model)
            if self.settings.llm_model
            else self.paths.models / DEFAULT_MODEL_NAME
        )

    @property
    def entity_dir(self) -> Path:
        return self.paths.models / "entities"

    @property
    def serves_entity_tokens(self) -> bool:
        """vLLM takes prompt embeddings once `make train-adaptor` has written entity tokens."""
        from recgpt_domain.entity_artefact import LATEST_FILE  # torch, only for a start

        return (self.entity_dir / LATEST_FILE).is_file()

    @property
    def serves_adapters(self) -> bool:
        """Whether vLLM starts with LoRA on: always, never, or ("auto") when an agent has an adapter."""
        if self.settings.lora != "auto":
            return self.settings.lora == "on"
        return any(
            adapter_files.versions(self.adapters_dir, agent)
            for agent in adapter_files.agents(self.adapters_dir)
        )

    def served_agents(self) -> dict[str, str]:
        """What each trainable agent answers with on this start: its adapter's name, or "base model" and
        why, chosen as the agents will choose (RECGPT_LLM_ADAPTER_CHOICE, RECGPT_LLM_AGENT_ADAPTERS, and the
        prompt each is served: an adapter trained on another is never chosen). Empty without the LLM."""
        if not self.settings.llm:
            return {}
        prompts = self._served_prompts()
        merged = {
            engine.agent: f"merged engine {name} ({engine.model})"
            for name, engine in self.merged_engines().items()
        }
        if not self.serves_adapters:
            return {agent: merged.get(agent, f"base model (LoRA {self.settings.lora})") for agent in prompts}
        served: dict[str, str] = {}
        for agent, prompt in prompts.items():
            if agent in merged:
                served[agent] = merged[agent]
                continue
            try:
                adapter = self._chosen_adapter(agent, prompt)
            except adapter_files.AdapterError as error:
                served[agent] = f"base model ({error})"
                continue
            served[agent] = (
                f"adapter {adapter.served_name}"
                if adapter
                else f"base model (no adapter trained on {prompt})"
            )
        return served

    def _served_prompts(self) -> dict[str, str]:
        """Each trainable agent's served prompt version, as the services will serve it (RECGPT_TAG_MODE)."""
        tag_mode = os.environ.get("RECGPT_TAG_MODE", DEFAULT_TAG_MODE)
        if tag_mode not in get_args(TagMode):
            raise StackError(f"RECGPT_TAG_MODE={tag_mode!r}: one of {', '.join(get_args(TagMode))}")
        return dict(served_prompt_versions(cast(TagMode, tag_mode)))

    def _chosen_adapter(self, agent: str, prompt: str) -> adapter_files.Adapter | None:
        """The adapter the agent will choose (RECGPT_LLM_ADAPTER_CHOICE, RECGPT_LLM_AGENT_ADAPTERS, its
        prompt); AdapterError when its setting names one that is not there."""
        default = os.environ.get("RECGPT_LLM_ADAPTER_CHOICE", adapter_files.NEWEST)
        chosen = parse_adapter_choices(os.environ.get("RECGPT_LLM_AGENT_ADAPTERS", ""))
        return adapter_files.choose(self.adapters_dir, agent, chosen.get(agent, default), prompt)

    def merged_engines(self) -> dict[str, MergedEngine]:
        """What each agent of RECGPT_STACK_MERGED_AGENTS has its own engine serve, by the engine's process
        name: the merged folder of the adapter it would be served as LoRA. StackError when it has none."""
        if not self.settings.merged_agents:
            return {}
        prompts = self._served_prompts()
        engines: dict[str, MergedEngine] = {}
        for agent in self.settings.merged_agents:
            if agent not in prompts:
                raise StackError(
                    f"RECGPT_STACK_MERGED_AGENTS: no agent {agent!r}; one of {', '.join(prompts)}"
                )
            try:
                adapter = self._chosen_adapter(agent, prompts[agent])
            except adapter_files.AdapterError as error:
                raise StackError(f"RECGPT_STACK_MERGED_AGENTS: {error}") from None
            if adapter is None:
                raise StackError(
                    f"RECGPT_STACK_MERGED_AGENTS: {agent} has no adapter trained on {prompts[agent]} "
                    f"in {self.adapters_dir / agent} to merge"
                )
            merged_dir = self.paths.models / merged_models.MERGED_DIR
            try:
                engine = merged_models.served_merged(adapter, merged_dir, self._base_stamp())
            except MergeError as error:
                raise StackError(str(error)) from None
            engines[registry.merged_engine_name(agent)] = engine
        return engines

    def _base_stamp(self) -> dict[str, object]:
        """The served base folder's source stamp ({} when it has none, or is not built yet)."""
        from agent_training.artefact import read_source_stamp  # offline code, only for a start

        return read_source_stamp(self.model_folder)

    @property
    def lora_rank(self) -> int:
        """vLLM's --max-lora-rank: RECGPT_VLLM_MAX_LORA_RANK when set, else the least fitting the adapters."""
        told = os.environ.get("RECGPT_VLLM_MAX_LORA_RANK")
        if told:
            try:
                return int(told)
            except ValueError as error:
                raise StackError(f"RECGPT_VLLM_MAX_LORA_RANK={told!r} is not a LoRA rank") from error
        return vllm_engine.served_lora_rank(adapter_files.present_ranks(self.adapters_dir))

    @property
    def agent_priorities(self) -> str:
        """The agents' priorities on the engine the stack starts (it schedules by priority):
        RECGPT_LLM_AGENT_PRIORITIES when set, else `vllm_engine.AGENT_PRIORITIES`."""
        return os.environ.get("RECGPT_LLM_AGENT_PRIORITIES", vllm_engine.AGENT_PRIORITIES)

    @property
    def served_model_name(self) -> str:
        """The name vLLM serves the model under: it keys caches and provenance, so each model has its own."""
        if not self.settings.llm_model:
            return DEFAULT_MODEL_NAME
        return self.settings.llm_model.rstrip("/").rsplit("/", 1)[-1].lower()

    # -- up -------------------------------------------------------------------------------------

    def up(self) -> RunState:
        recorded = processes.recorded(self.paths.run)
        if recorded:
            gone = [p.name for p in recorded if not processes.alive(p)]
            if gone:
                raise StackError(
                    f"{', '.join(gone)} of an earlier start no longer running (logs in {self.paths.logs}); "
                    "`make stop`, then `make run` again"
                )
            if not self.paths.state.is_file():
                raise StackError(
                    f"processes recorded in {self.paths.run} without a state file: `make stop` first"
                )
            _say(f"already running: {', '.join(p.name for p in recorded)} (make stop first to restart)")
            state = self.read_state()
            names = {p.name for p in recorded}
            self._wait_ready([p for p in self.table if p.name in names], state, since=time.time())
            # A Redis that came back empty (wiped, its files lost) has lost the keys too.
            self.store_keys(state)
            return state
        started_at = time.monotonic()
        self._check_ports()
        try:
            state = self._bring_up()
        except BaseException:
            _say("start-up failed: stopping what was started")
            self.down()
            raise
        _say(f"ready in {time.monotonic() - started_at:.0f} s")
        return state

    def _bring_up(self) -> RunState:
        since = time.time()
        store_url = ArtefactStoreSettings().artefact_store_url
        if store_url:  # before the plan: whether vLLM serves LoRA depends on the adapters present
            fetched = artefact_sync.fetch_adapters(store_url, self.adapters_dir)
            _say(f"adapters from {store_url}: {', '.join(f'{a}/{v}' for a, v in fetched.items()) or 'none'}")
        state = self.run_state()
        launches = self.plan(state)
        run_state.write(self.paths.state, state)
        awaited: list[Process] = []
        for phase in Phase:
            if phase is Phase.AFTER_DATA:
                self.prepare_data(self._base_env(state))
            in_phase = [launch for launch in launches if launch.process.phase is phase]
            for launch in in_phase:
                self.start(launch)
            if phase is Phase.READY_BEFORE_DATA:
                awaited = [launch.process for launch in in_phase]
                self._wait_ready(awaited, state, since)
                # Redis answers now (ours, or REDIS_URL's); the gateway starts after the data.
                self.store_keys(state)
        rest = [launch.process for launch in launches if launch.process not in awaited]
        self._wait_ready(rest, state, since)
        return state

    def store_keys(self, state: RunState) -> None:
        """Makes the development and admin keys once, and stores in Redis those it does not hold yet."""
        if state.keys_file is None:
            return
        try:
            keys = stack_auth.load_or_create_keys(state.keys_file)
            stored = stack_auth.store_missing(state.redis_url, state.redis_prefix, keys.records())
        except stack_auth.AuthError as error:
            raise StackError(str(error)) from None
        names = ", ".join(key.name for key in stored) or "none new"
        _say(f"API keys from {state.keys_file} stored in Redis: {names}")

    def prepare_data(self, env: dict[str, str]) -> None:
        """Imports the dataset and builds the FAISS index, each skipped when already fresh."""
        import_command = [
            _script("recgpt-import"),
            str(self.settings.dataset),
            "--out", str(self.paths.catalogue),
            "--prefix", self.settings.redis_prefix,
            "--skip-if-fresh",
            *(["--hold-out-last"] if self.settings.hold_out_last else []),
        ]  # fmt: skip
        _run_step(Step(f"importing {self.settings.dataset}", import_command), env)
        index_command = [
            _script("recgpt-build-index"),
            "--catalogue", str(self.paths.catalogue),
            "--index", str(self.paths.index),
        ]  # fmt: skip
        _run_step(Step("building the FAISS index", index_command), env)

    def _check_ports(self) -> None:
        owners: dict[int, str] = {}
        for process in self.started_processes():
            for label, port in self.addresses.ports(process).items():
                if port in owners:
                    raise StackError(f"port {port} given to both {owners[port]} and {label}")
                owners[port] = label
        busy = [f"{label} ({port})" for port, label in owners.items() if not port_free(port)]
        if busy:
            raise StackError(
                f"ports in use: {', '.join(busy)}; stop what holds them or set RECGPT_STACK_<NAME>_PORT"
            )

    def start(self, launch: Launch) -> processes.Started:
        """Runs the launch's steps, then starts its process under a supervisor and records both."""
        for folder in launch.folders:
            folder.mkdir(parents=True, exist_ok=True)
        for step in launch.steps:
            _run_step(step, launch.env)
        note = f" ({launch.note})" if launch.note else ""
        _say(f"starting {launch.process.name}{note}")
        return processes.start(
            launch.process.name,
            launch.command,
            launch.env,
            self.paths.run,
            self.paths.logs,
            restart=self.restart_policy,
        )

    def _wait_ready(self, waited: Sequence[Process], state: RunState, since: float) -> None:
        """Polls each until ready; fails on one that exits after `since` (Unix time) or not in time."""
        if not waited:
            return
        pending = {process.name: ready_check(process, state) for process in waited}
        deadline = time.monotonic() + self.settings.ready_timeout_s
        _say(f"waiting for {', '.join(pending)}")
        while pending:
            for name in list(pending):
                if pending[name]():
                    _say(f"  {name} ready")
                    del pending[name]
            self._fail_if_exited(since)
            if pending and time.monotonic() > deadline:
                raise StackError(
                    f"not ready after {self.settings.ready_timeout_s:.0f} s: "
                    f"{', '.join(pending)}; logs in {self.paths.logs}"
                )
            if pending:
                time.sleep(1)

    def _fail_if_exited(self, since: float) -> None:
        """A process that exits while the platform starts fails the start, restarted or not: loud, early."""
        for started in processes.recorded(self.paths.run):
            record = processes.supervision(self.paths.run, started.name)
            exited = record is not None and (record.last_exit_at or 0.0) >= since
            if exited or not processes.alive(started):
                last = record.last_exit if record else None
                code = f" with {supervisor.exit_text(last)}" if last is not None else ""
                raise StackError(f"{started.name} exited during start-up{code}; see {started.log_file}")

    def read_state(self) -> RunState:
        """The running platform's state; StackError when it is not running."""
        try:
            return run_state.read(self.paths.state)
        except RunStateError as error:
            raise StackError(str(error)) from None

    # -- down / status / url ---------------------------------------------------------------------

    def stop_order(self, names: Sequence[str]) -> list[str]:
        """Front to back: the reverse of the start order; names the registry lacks go first."""
        rank = {process.name: index for index, process in enumerate(self.table)}
        return sorted(names, key=lambda name: -rank.get(name, len(rank)))

    def down(self) -> None:
        recorded = {started.name: started for started in processes.recorded(self.paths.run)}
        if not recorded:
            _say("nothing to stop")
        for name in self.stop_order(list(recorded)):
            started = recorded[name]
            was_running = processes.stop(started, self.paths.run)
            _say(f"{'stopped' if was_running else 'already gone'}: {started.name} (pid {started.pid})")
        self.paths.state.unlink(missing_ok=True)

    def status(self) -> int:
        """Prints each process: its pid, whether it runs, its restarts and last exit; 0 when all run."""
        rank = {process.name: index for index, process in enumerate(self.table)}
        recorded = sorted(processes.recorded(self.paths.run), key=lambda p: rank.get(p.name, len(rank)))
        running = 0
        for started in recorded:
            line = stack_cli.status_line(
                started, processes.alive(started), processes.supervision(self.paths.run, started.name)
            )
            running += line.running
            print(line.text)
        if not recorded:
            print("not running")
        return 0 if recorded and running == len(recorded) else 1

    def exec(self, command: Sequence[str]) -> NoReturn:
        """Replaces this process by `command`, with the running platform's addresses and API keys in its
        environment."""
        try:
            client_env = self.read_state().client_env()
        except RunStateError as error:
            raise StackError(str(error)) from None
        env = {**os.environ, **client_env}
        sys.stdout.flush()
        os.execvpe(command[0], list(command), env)

    def url(self, name: str) -> str:
        """The HTTP root of a running process (for make targets that call the gateway or vLLM)."""
        state = self.read_state()
        if name not in state.urls:
            raise StackError(f"{name!r} serves no HTTP here; these do: {', '.join(state.urls)}")
        return state.urls[name]


def _agent_engines(merged: dict[str, MergedEngine], state: RunState) -> str:
    """RECGPT_LLM_AGENT_ENGINES for the agents' own engines of this start."""
    return ",".join(f"{engine.agent}={engine.model}@{state.urls[name]}/v1" for name, engine in merged.items())


def main() -> None:
    args = stack_cli.parser(__doc__).parse_args()
    command = stack_cli.exec_command(args.command) if args.action == "exec" else []
    if args.action == "exec" and not command:
        stack_cli.parser(__doc__).error("exec needs a command, e.g. `recgpt-stack exec -- recgpt-nearline`")
    try:
        settings = StackSettings()
    except ValidationError as error:
        print(f"[stack] invalid RECGPT_STACK_* settings: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    try:
        stack = Stack(settings)
        _run(stack, args, command)
    except (StackError, stack_auth.AuthError) as error:
        print(f"[stack] {error}", file=sys.stderr)
        raise SystemExit(1) from None


def _run(stack: Stack, args: argparse.Namespace, command: list[str]) -> None:
    action = args.action
    if action == "up":
        print(stack_cli.usage(stack.up(), stack.table, agents=stack.served_agents()))
    elif action == "down":
        stack.down()
    elif action == "status":
        raise SystemExit(stack.status())
    elif action == "url":
        print(stack.url(args.name))
    elif action == "exec":
        stack.exec(command)
    elif action == "api-key":
        print(stack_cli.api_key(stack.paths.dev_keys, admin=args.admin))
    elif action == "user-token":
        print(stack_cli.user_token(stack.paths.user_token_secret, args.user, args.ttl))
    else:
        _keys(stack.read_state(), args)


def _keys(state: RunState, args: argparse.Namespace) -> None:
    """`keys create|list|revoke` against the running platform's Redis."""
    where = stack_auth.redacted(state.redis_url)
    if args.keys_action == "create":
        key, presented = stack_cli.create_key(state, args)
        _note(f"created key {key.key_id} ({key.name}) in {where}, accepted within seconds; shown only now:")
        print(presented)
    elif args.keys_action == "list":
        print(stack_cli.key_table(stack_auth.listed(state.redis_url, state.redis_prefix)))
    else:
        revoked = stack_auth.revoke(state.redis_url, state.redis_prefix, args.key_id)
        _note(f"revoked key {revoked.key_id} ({revoked.name}); every gateway refuses it within seconds")


if __name__ == "__main__":
    main()
