"""docker-compose.yml, the Prometheus configs, the Kubernetes manifests (deploy/k8s, recgpt_tools.k8s) and
production-stack's values (recgpt_tools.production_stack), written from the process registry (never by hand).

    python -m recgpt_tools.deploy_files          # (make deploy-files) rewrites the stale ones, and makes the
                                                 # secrets of deploy/secrets/ that are absent
    python -m recgpt_tools.deploy_files --check  # exit 1 when a checked-in file differs (tests/deploy)

The compose YAML is written as text, not dumped, so that it keeps its comments and anchors and reads like a
hand-written file. It names the secrets' files (recgpt_tools.deploy_secrets) by path, never their content,
so that it is the same on every clone. Run it from the repository root.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from recgpt_serving.llm.models import DEFAULT_MODEL_NAME
from recgpt_tools import (
    container_layout,
    deploy_secrets,
    production_stack,
    redis_server,
    registry,
    stack_auth,
    vllm_engine,
)
from recgpt_tools.container_layout import API_KEYS_FILE, DATA_DIRS, MODEL_DIR, VAR
from recgpt_tools.deploy_secrets import API_KEYS_JSON, GRAFANA_ENV, LLM_ENV, REDIS_ACL
from recgpt_tools.k8s import files as k8s_files
from recgpt_tools.registry import ConsoleScript, Engine, GrpcHealth, HttpOk, Process, RedisPing, Starts

COMPOSE_FILE = Path("docker-compose.yml")
PROMETHEUS_FILE = Path("deploy/prometheus/prometheus.yml")
PROMETHEUS_COMPOSE_FILE = Path("deploy/prometheus/prometheus.compose.yml")

_GENERATED = (
    "# Generated from the process registry (services/recgpt_tools/registry.py) by\n"
    "# `python -m recgpt_tools.deploy_files` (make deploy-files): edit the registry, not this file.\n"
)
# Redis's durability, chosen where compose runs: RECGPT_REDIS_APPENDFSYNC=always, RECGPT_REDIS_MAXMEMORY=4gb.
_REDIS_COMMAND = container_layout.redis_command(
    f"${{RECGPT_REDIS_APPENDFSYNC:-{redis_server.Durability.appendfsync}}}",
    f"${{RECGPT_REDIS_MAXMEMORY:-{redis_server.DEFAULT_MAXMEMORY}}}",
)
# Every long-running container comes back when it exits, as the local launcher's supervisors do.
_RESTART = "    restart: unless-stopped"
# The GPU engine's container: the CUDA build's image and a name of its own, reached as `vllm` all the same.
_GPU_ENGINE = "vllm-gpu"
_GPU_MEMORY_LIMIT = "32G"
# Healthchecks: how often, and how many failures in a row make a container unhealthy.
_HEALTH_INTERVAL_S, _HEALTH_TIMEOUT_S, _HEALTH_RETRIES = 10, 5, 3

_COMPOSE_HEAD = """\
# The platform as containers, for machines with a Docker engine (this project's CI machines have none:
# there `make run` starts the same processes directly). Data is prepared once by the `prepare` service.
# `make deploy-files` first: it makes the secrets of {secrets}/ (never committed) that the services read:
# each container's Redis user, the LLM engine's API key, Grafana's admin password, the gateway's API keys
# (as presented, for the operator: {secrets}/api-keys.txt). Only the gateway's public port is published
# on every interface; the operators' ports (the gateway's internal one, Prometheus, Grafana) on 127.0.0.1.
# Every container but `prepare` restarts when it exits, has a healthcheck (but `restore`, which serves
# nothing), a memory limit and a stop grace period from the registry, and starts once what it calls is
# healthy. The engine runs in a profile: `docker compose --profile cpu up` (vLLM's CPU build) or
# `--profile gpu up` (the CUDA build on one NVIDIA GPU reserved for it; RECGPT_VLLM_MODEL picks the
# model folder or Hugging Face id). Redis keeps an append-only file on the redis-data
# volume (fsynced every second; RECGPT_REDIS_APPENDFSYNC=always for every write) and refuses writes past
# RECGPT_REDIS_MAXMEMORY (default {maxmemory}; noeviction: the services answer 503, nothing is evicted);
# `restore` loads the catalogue's behaviour again should Redis come back without it.
x-platform: &platform
  build:
    context: .
    dockerfile: deploy/docker/Dockerfile
  image: recgpt-platform:latest
  environment: &env
{common_env}
  volumes:
    - var:{var}
    - ${{DATASET:-./data/amazon-scientific}}:/data:ro

services:
  redis:
    image: {redis_image}
    command:
{redis_command}
    restart: unless-stopped
{redis_limits}
    volumes:
      - redis-data:{redis_data}
      - ./{acl}:{acl_file}:ro

  prepare:
    <<: *platform
    depends_on:
      redis: {{condition: service_healthy}}
    env_file: ["{prepare_env}"]
    command: {prepare}
"""

_COMPOSE_TAIL = """
  prometheus:
    image: prom/prometheus:v2.53.0
    restart: unless-stopped
    volumes:
      - ./{prometheus}:/etc/prometheus/prometheus.yml:ro
    ports: ["127.0.0.1:9090:9090"]

  grafana:
    image: grafana/grafana:11.1.0
    restart: unless-stopped
    env_file: ["{grafana_env}"]
    volumes:
      - ./deploy/grafana/provisioning:/etc/grafana/provisioning:ro
      - ./deploy/grafana/dashboards:/var/lib/grafana/dashboards:ro
    ports: ["127.0.0.1:3000:3000"]

volumes:
  var: {{}}
  redis-data: {{}}
"""


def _compose_addresses(table: Sequence[Process]) -> registry.Addresses:
    """Each container is reached by its service name, at the registry's default ports."""
    return registry.Addresses(table, host=lambda name: name, overrides={})


def _quoted(values: Sequence[str]) -> str:
    """A flow sequence of double-quoted strings: JSON strings are valid YAML scalars."""
    return "[" + ", ".join(json.dumps(value) for value in values) + "]"


def _mapping(indent: str, values: Mapping[str, str]) -> list[str]:
    return [f"{indent}{key}: {json.dumps(value)}" for key, value in values.items()]


def _health_test(process: Process, port: int | None) -> list[str] | None:
    """The healthcheck's command, inside the container: the registry's readiness check; None: none."""
    ready = process.ready
    if isinstance(ready, GrpcHealth):
        return ["CMD", "python", "-m", "recgpt_tools.probe", f"127.0.0.1:{port}", ready.service]
    if isinstance(ready, HttpOk):
        url = f"http://127.0.0.1:{port if port is not None else process.metrics_port}{ready.path}"
        # Any image with a Python answers this one: the CUDA engine's has none of our packages.
        return ["CMD", "python3", "-c", f"import urllib.request; urllib.request.urlopen({url!r}, timeout=3)"]
    if isinstance(ready, RedisPing):
        # Its default user is off (the ACL file): a NOAUTH answer is a Redis up and answering.
        return ["CMD-SHELL", "redis-cli ping | grep -qE '^(PONG|NOAUTH)'"]
    return None


def _operations(process: Process, port: int | None, indent: str = "    ") -> list[str]:
    """Healthcheck, stop grace period and memory: what compose knows of a container's life."""
    lines = []
    test = _health_test(process, port)
    if test is not None:
        lines += [
            f"{indent}healthcheck:",
            f"{indent}  test: {_quoted(test)}",
            f"{indent}  interval: {_HEALTH_INTERVAL_S}s",
            f"{indent}  timeout: {_HEALTH_TIMEOUT_S}s",
            f"{indent}  retries: {_HEALTH_RETRIES}",
            f"{indent}  start_period: {process.startup_s}s",
        ]
    lines.append(f"{indent}stop_grace_period: {process.termination_grace_s}s")
    return lines + _limits(process, indent)


def _limits(process: Process, indent: str = "    ", devices: bool = False) -> list[str]:
    spec = process.resources
    lines = [
        f"{indent}deploy:",
        f"{indent}  resources:",
        f"{indent}    limits: {{memory: {_GPU_MEMORY_LIMIT if devices else f'{spec.memory_limit_mib}M'}}}",
    ]
    if devices:
        lines.append(f"{indent}    reservations:")
        lines.append(f"{indent}      devices: [{{driver: nvidia, count: 1, capabilities: [gpu]}}]")
    else:
        cpus = f"{spec.cpu_m / 1000:g}"
        lines.append(f'{indent}    reservations: {{cpus: "{cpus}", memory: {spec.memory_mib}M}}')
    return lines


def _depends_on(process: Process, table: Sequence[Process]) -> dict[str, str]:
    """Container -> condition: the prepared data, Redis, the engine (either profile's) for an LLM caller,
    healthy; the services it calls, healthy."""
    needs: dict[str, str] = {}
    if deploy_secrets.redis_user(process) is not None:
        needs["redis"] = "condition: service_healthy"
    if process.reads or process.command is Engine.VLLM:
        needs["prepare"] = "condition: service_completed_successfully"
    if isinstance(process.command, ConsoleScript) and process.starts is Starts.WITH_LLM:
        for engine in (p.name for p in table if p.command is Engine.VLLM):
            # Only the profile chosen runs: the other engine is absent, not failed.
            needs[engine] = needs[_GPU_ENGINE] = "condition: service_healthy, required: false"
    needs.update({name: "condition: service_healthy" for name in process.targets})
    return needs


def _env_files(process: Process) -> list[str]:
    """The secrets a container reads: its Redis user's REDIS_URL; the engine's key, where it meets it."""
    files = []
    user = deploy_secrets.redis_user(process)
    if user is not None:
        files.append(str(deploy_secrets.redis_env(user)))
    if process.command is Engine.VLLM or (
        isinstance(process.command, ConsoleScript) and process.starts is Starts.WITH_LLM
    ):
        files.append(str(LLM_ENV))
    return files


def _ports(process: Process) -> list[str]:
    """Published ports: the callers' port on every interface; the operators' listener on 127.0.0.1 only."""
    published = []
    if process.serves_http and process.port is not None and isinstance(process.command, ConsoleScript):
        published.append(f"{process.port}:{process.port}")
    if process.internal_port is not None:
        published.append(f"127.0.0.1:{process.internal_port}:{process.internal_port}")
    return published


def _compose_service(process: Process, table: Sequence[Process], addresses: registry.Addresses) -> list[str]:
    lines = ["", f"  {process.name}:", "    <<: *platform", _RESTART]
    needs = _depends_on(process, table)
    if needs:
        lines.append("    depends_on:")
        lines += [f"      {name}: {{{condition}}}" for name, condition in needs.items()]
    env_files = _env_files(process)
    if env_files:
        lines.append(f"    env_file: {_quoted(env_files)}")
    command = process.command
    if isinstance(command, ConsoleScript):
        engines = [p.name for p in table if p.command is Engine.VLLM]
        llm = None
        if engines:
            llm = registry.LlmEndpoint(
                f"{addresses.url(engines[0])}/v1",
                DEFAULT_MODEL_NAME,
                agent_priorities=vllm_engine.AGENT_PRIORITIES,
            )
        env = registry.service_env(process, addresses, {p.name for p in table}, DATA_DIRS, llm)
        if process.internal_port is not None:
            # Prometheus scrapes it from its own container; the host publishes it on 127.0.0.1 only.
            env["RECGPT_INTERNAL_BIND_HOST"] = "0.0.0.0"
        if process.checks_callers:
            env["RECGPT_API_KEYS_FILE"] = API_KEYS_FILE
        lines += ["    environment:", "      <<: *env", *_mapping("      ", env)]
        lines.append(f"    command: {_quoted([command.name, *command.args])}")
        if process.checks_callers:
            lines += [
                "    volumes:",
                f"      - var:{VAR}",
                "      - ${DATASET:-./data/amazon-scientific}:/data:ro",
                f"      - ./{API_KEYS_JSON}:{API_KEYS_FILE}:ro",
            ]
        # The gateway is the platform's only HTTP face: its public port is published on the host.
        if _ports(process):
            lines.append(f"    ports: {_quoted(_ports(process))}")
        return lines + _operations(process, process.port)
    if process.port is None:
        raise ValueError(f"{process.name}: the engine needs a port")
    engine = container_layout.vllm_engine_settings(process.port)
    lines.insert(3, '    profiles: ["cpu"]')
    lines += ["    environment:", *_mapping("      ", vllm_engine.vllm_env(engine, {}))]
    lines.append("    command:")
    lines += [f"      - {json.dumps(arg)}" for arg in vllm_engine.vllm_command(engine, python="python")]
    return lines + _operations(process, process.port) + _gpu_engine(process)


def _gpu_engine(process: Process) -> list[str]:
    """The same engine from the CUDA build's image on a reserved NVIDIA GPU, in the `gpu` profile."""
    assert process.port is not None
    model = f"${{RECGPT_VLLM_MODEL:-{MODEL_DIR}}}"
    engine = container_layout.vllm_engine_settings(process.port, device="cuda").model_copy(
        update={"model": model}
    )
    lines = [
        "",
        f"  {_GPU_ENGINE}:",
        f"    image: {container_layout.VLLM_CUDA_IMAGE}",
        '    profiles: ["gpu"]',
        _RESTART,
        "    depends_on:",
        "      prepare: {condition: service_completed_successfully}",
        f"    env_file: {_quoted([str(LLM_ENV)])}",
        "    networks:",
        f"      default: {{aliases: [{process.name}]}}",
        "    volumes:",
        f"      - var:{VAR}",
        "    environment:",
        *_mapping("      ", vllm_engine.vllm_env(engine, {})),
        "    entrypoint:",
        *(f"      - {json.dumps(arg)}" for arg in vllm_engine.vllm_command(engine, python="python3")),
    ]
    operations = _operations(process, process.port)
    return lines + operations[: operations.index("    deploy:")] + _limits(process, devices=True)


def compose(table: Sequence[Process] = registry.PROCESSES) -> str:
    addresses = _compose_addresses(table)
    redis = next(process for process in table if process.command is Engine.REDIS)
    head = _COMPOSE_HEAD.format(
        secrets=deploy_secrets.SECRETS_DIR,
        common_env="\n".join(_mapping("    ", container_layout.COMMON_ENV)),
        acl=REDIS_ACL,
        maxmemory=redis_server.DEFAULT_MAXMEMORY,
        redis_image=container_layout.REDIS_IMAGE,
        redis_command="\n".join(f"      - {json.dumps(arg)}" for arg in _REDIS_COMMAND),
        redis_limits="\n".join(_operations(redis, container_layout.REDIS_PORT)),
        redis_data=container_layout.REDIS_DATA,
        acl_file=container_layout.REDIS_ACL_FILE,
        prepare_env=deploy_secrets.redis_env(deploy_secrets.PREPARE),
        var=VAR,
        prepare=_quoted(["sh", "-c", container_layout.PREPARE_COMMAND]),
    )
    lines: list[str] = []
    # Redis is its own container (above), holding the caches too; the launcher's local redis-servers have no
    # place here.
    for process in table:
        if process.command not in (Engine.REDIS, Engine.CACHE_REDIS):
            lines += _compose_service(process, table, addresses)
    tail = _COMPOSE_TAIL.format(prometheus=PROMETHEUS_COMPOSE_FILE, grafana_env=GRAFANA_ENV)
    return _GENERATED + head + "\n".join(lines) + "\n" + tail


def _prometheus(title: str, table: Sequence[Process], addresses: registry.Addresses) -> str:
    lines = [
        _GENERATED.rstrip("\n"),
        f"# {title}",
        "global:",
        "  scrape_interval: 5s",
        "  evaluation_interval: 5s",
        "",
        "scrape_configs:",
    ]
    for process in table:
        scrape = addresses.scrape_target(process)
        if scrape is not None:
            lines += [
                f"  - job_name: {process.name}",
                "    static_configs:",
                f'      - targets: ["{scrape}"]',
            ]
    return "\n".join(lines) + "\n"


def prometheus(table: Sequence[Process] = registry.PROCESSES) -> str:
    local = registry.Addresses(table, host=lambda _: "127.0.0.1", overrides={})
    title = "Scrapes every process that `make run` starts, at the launcher's default ports."
    return _prometheus(title, table, local)


def prometheus_compose(table: Sequence[Process] = registry.PROCESSES) -> str:
    title = "The same scrape jobs for docker compose: each container by its service name."
    return _prometheus(title, table, _compose_addresses(table))


FILES: dict[Path, Callable[[], str]] = {
    COMPOSE_FILE: compose,
    PROMETHEUS_FILE: prometheus,
    PROMETHEUS_COMPOSE_FILE: prometheus_compose,
}


def generated() -> dict[Path, str]:
    """Every generated file and its text: compose, Prometheus, Kubernetes, production-stack's values."""
    made = {path: render() for path, render in FILES.items()}
    made.update(k8s_files.files())
    made.update(production_stack.files())
    return made


def stale(root: Path, made: dict[Path, str] | None = None) -> list[Path]:
    """The files under `root` whose content differs from what the registry generates, and files left under
    deploy/k8s that it no longer generates."""
    made = generated() if made is None else made
    return [path for path, text in made.items() if _read(root / path) != text] + leftovers(root, made)


def leftovers(root: Path, made: dict[Path, str]) -> list[Path]:
    folder = root / k8s_files.K8S_DIR
    found = (path.relative_to(root) for path in folder.rglob("*") if path.is_file())
    return sorted(path for path in found if path not in made)


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except FileNotFoundError:
        return None


def main(argv: list[str] | None = None) -> int:
    """Writes the stale files, or with --check only names them; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m recgpt_tools.deploy_files", description=__doc__)
    parser.add_argument("--check", action="store_true", help="only say which files are stale (exit 1 if any)")
    parser.add_argument("--root", type=Path, default=Path(), help="the repository root (default: here)")
    args = parser.parse_args(argv)
    made = generated()
    outdated = stale(args.root, made)
    if args.check:
        for path in outdated:
            print(f"stale: {path} (run `make deploy-files`)", file=sys.stderr)
        return 1 if outdated else 0
    for path in outdated:
        if path in made:
            (args.root / path).parent.mkdir(parents=True, exist_ok=True)
            (args.root / path).write_text(made[path])
            print(f"wrote {path}")
        else:
            (args.root / path).unlink()
            print(f"removed {path}")
    try:
        secrets = deploy_secrets.ensure(args.root)
    except stack_auth.AuthError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    for path in secrets:
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
