"""docker-compose.yml and the Prometheus configs, written from the process registry (never by hand).

    python -m recgpt_tools.deploy_files          # (make deploy-files) rewrites the stale ones, and makes the
                                                 # secrets of deploy/secrets/ that are absent
    python -m recgpt_tools.deploy_files --check  # exit 1 when a checked-in file differs (tests/deploy)

The YAML is written as text, not dumped, so that it keeps its comments and anchors and reads like a
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
from recgpt_tools import deploy_secrets, redis_server, registry, stack_auth, vllm_engine
from recgpt_tools.deploy_secrets import API_KEYS_JSON, GRAFANA_ENV, LLM_ENV, REDIS_ACL, REDIS_PREFIX
from recgpt_tools.registry import ConsoleScript, Engine, Process, Starts

COMPOSE_FILE = Path("docker-compose.yml")
PROMETHEUS_FILE = Path("deploy/prometheus/prometheus.yml")
PROMETHEUS_COMPOSE_FILE = Path("deploy/prometheus/prometheus.compose.yml")

_GENERATED = (
    "# Generated from the process registry (services/recgpt_tools/registry.py) by\n"
    "# `python -m recgpt_tools.deploy_files` (make deploy-files): edit the registry, not this file.\n"
)
# Inside the containers: the shared volume, and Redis as its own container on its standard port.
_VAR = "/var/recgpt"
_DATA_DIRS: dict[registry.Data, str] = {"catalogue": f"{_VAR}/catalogue", "index": f"{_VAR}/index"}
_MODEL_DIR = f"{_VAR}/models/{DEFAULT_MODEL_NAME}"
# The gateway's keys file inside its container.
_API_KEYS_FILE = "/etc/recgpt/api-keys.json"
# Cores the CPU engine's threads are bound to in its container.
_VLLM_CPU_THREADS = "0-1"
# Redis's durability, chosen where compose runs: RECGPT_REDIS_APPENDFSYNC=always, RECGPT_REDIS_MAXMEMORY=4gb.
_REDIS_DATA = "/data"
_REDIS_COMMAND = [
    "redis-server",
    *redis_server.durable_args(
        f"${{RECGPT_REDIS_APPENDFSYNC:-{redis_server.Durability.appendfsync}}}",
        f"${{RECGPT_REDIS_MAXMEMORY:-{redis_server.DEFAULT_MAXMEMORY}}}",
    ),
    "--dir", _REDIS_DATA,
    "--aclfile", "/etc/redis/users.acl",
]  # fmt: skip
# Every long-running container comes back when it exits, as the local launcher's supervisors do.
_RESTART = "    restart: unless-stopped"

_COMPOSE_HEAD = """\
# The platform as containers, for machines with a Docker engine (this project's CI machines have none:
# there `make run` starts the same processes directly). Data is prepared once by the `prepare` service.
# `make deploy-files` first: it makes the secrets of {secrets}/ (never committed) that the services read:
# each container's Redis user, the LLM engine's API key, Grafana's admin password, the gateway's API keys
# (as presented, for the operator: {secrets}/api-keys.txt). Only the gateway's public port is published
# on every interface; the operators' ports (the gateway's internal one, Prometheus, Grafana) on 127.0.0.1.
# Every container but `prepare` restarts when it exits. Redis keeps an append-only file on the redis-data
# volume (fsynced every second; RECGPT_REDIS_APPENDFSYNC=always for every write) and refuses writes past
# RECGPT_REDIS_MAXMEMORY (default {maxmemory}; noeviction: the services answer 503, nothing is evicted);
# `restore` loads the catalogue's behaviour again should Redis come back without it.
x-platform: &platform
  build:
    context: .
    dockerfile: deploy/docker/Dockerfile
  image: recgpt-platform:latest
  environment: &env
    RECGPT_REDIS_PREFIX: {prefix}
    RECGPT_BIND_HOST: 0.0.0.0
    RECGPT_EMBEDDING_MODELS_DIR: {var}/models/embedding
    RECGPT_TOWERS_DIR: {var}/models/towers
  volumes:
    - var:{var}
    - ${{DATASET:-./data/amazon-scientific}}:/data:ro

services:
  redis:
    image: redis:7
    command:
{redis_command}
    restart: unless-stopped
    volumes:
      - redis-data:{redis_data}
      - ./{acl}:/etc/redis/users.acl:ro

  prepare:
    <<: *platform
    depends_on: [redis]
    env_file: ["{prepare_env}"]
    command: >
      sh -c "recgpt-import /data --out {catalogue} --skip-if-fresh &&
             recgpt-build-index --catalogue {catalogue} --index {index} &&
             recgpt-llm-model --out {model}"
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


def _vllm_engine(port: int) -> vllm_engine.EngineSettings:
    # model_construct: the engine's defaults, not whatever RECGPT_VLLM_* this machine happens to set.
    return vllm_engine.EngineSettings.model_construct(
        model=_MODEL_DIR,
        served_model_name=DEFAULT_MODEL_NAME,
        host="0.0.0.0",
        port=port,
        cpu_threads_bind=_VLLM_CPU_THREADS,
    )


def _depends_on(process: Process, table: Sequence[Process]) -> dict[str, str]:
    """Container -> condition: the prepared data, the engine for an LLM caller, the services it calls."""
    needs: dict[str, str] = {}
    if process.reads or process.command is Engine.VLLM:
        needs["prepare"] = "service_completed_successfully"
    if isinstance(process.command, ConsoleScript) and process.starts is Starts.WITH_LLM:
        needs.update({p.name: "service_started" for p in table if p.command is Engine.VLLM})
    needs.update({name: "service_started" for name in process.targets})
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
        lines += [f"      {name}: {{condition: {condition}}}" for name, condition in needs.items()]
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
        env = registry.service_env(process, addresses, {p.name for p in table}, _DATA_DIRS, llm)
        if process.internal_port is not None:
            # Prometheus scrapes it from its own container; the host publishes it on 127.0.0.1 only.
            env["RECGPT_INTERNAL_BIND_HOST"] = "0.0.0.0"
        if process.checks_callers:
            env["RECGPT_API_KEYS_FILE"] = _API_KEYS_FILE
        lines += ["    environment:", "      <<: *env", *_mapping("      ", env)]
        lines.append(f"    command: {_quoted([command.name, *command.args])}")
        if process.checks_callers:
            lines += [
                "    volumes:",
                f"      - var:{_VAR}",
                "      - ${DATASET:-./data/amazon-scientific}:/data:ro",
                f"      - ./{API_KEYS_JSON}:{_API_KEYS_FILE}:ro",
            ]
        # The gateway is the platform's only HTTP face: its public port is published on the host.
        if _ports(process):
            lines.append(f"    ports: {_quoted(_ports(process))}")
    else:
        if process.port is None:
            raise ValueError(f"{process.name}: the engine needs a port")
        engine = _vllm_engine(process.port)
        lines += ["    environment:", *_mapping("      ", vllm_engine.vllm_env(engine, {}))]
        lines.append("    command:")
        lines += [f"      - {json.dumps(arg)}" for arg in vllm_engine.vllm_command(engine, python="python")]
    return lines


def compose(table: Sequence[Process] = registry.PROCESSES) -> str:
    addresses = _compose_addresses(table)
    head = _COMPOSE_HEAD.format(
        secrets=deploy_secrets.SECRETS_DIR,
        prefix=REDIS_PREFIX,
        acl=REDIS_ACL,
        maxmemory=redis_server.DEFAULT_MAXMEMORY,
        redis_command="\n".join(f"      - {json.dumps(arg)}" for arg in _REDIS_COMMAND),
        redis_data=_REDIS_DATA,
        prepare_env=deploy_secrets.redis_env(deploy_secrets.PREPARE),
        var=_VAR,
        catalogue=_DATA_DIRS["catalogue"],
        index=_DATA_DIRS["index"],
        model=_MODEL_DIR,
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


def stale(root: Path) -> list[Path]:
    """The files under `root` whose content differs from what the registry generates."""
    return [path for path, render in FILES.items() if _read(root / path) != render()]


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
    outdated = stale(args.root)
    if args.check:
        for path in outdated:
            print(f"stale: {path} (run `make deploy-files`)", file=sys.stderr)
        return 1 if outdated else 0
    for path in outdated:
        (args.root / path).write_text(FILES[path]())
        print(f"wrote {path}")
    try:
        made = deploy_secrets.ensure(args.root)
    except stack_auth.AuthError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    for path in made:
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
