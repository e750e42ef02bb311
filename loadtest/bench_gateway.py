"""A second gateway beside the running platform, launched as `make run` launches its own but on free ports
(callers' and operators'), with settings overridden and keys of its own: the benchmarks compare
configurations (experiments off and on, authentication on and off) in the same run this way. A second
retrieval can be started the same way, so that a gateway pointed at it serves the platform with another
retrieval setting (co-occurrence beside the learned route).

It accepts the keys of a keys file written for it (RECGPT_API_KEYS_FILE: a caller's key and an admin key,
the caller's unlimited unless a rate is asked), beside those in the platform's Redis as any gateway does.
"""

from __future__ import annotations

import copy
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import yaml  # type: ignore[import-untyped]

from gateway.settings import GatewaySettings
from loadtest import gateway_access
from loadtest.gateway_access import GatewayAccess
from recgpt_serving import service_names
from recgpt_tools import readiness, redis_server, run_state
from recgpt_tools.stack import Stack
from recgpt_tools.stack_settings import StackSettings

# The gateway setting that turns assignment and exposure logging off (the services/experiments package).
EXPERIMENTS_SETTING = "experiments_enabled"
EXPERIMENTS_ENV = "RECGPT_EXPERIMENTS_ENABLED"
# "off": no key checked, every caller may do everything (the gateway warns at start).
AUTH_ENV = "RECGPT_AUTH"


ADMIN_PATH = "/v1/admin/experiments"
EXPERIMENTS_FILE = Path(__file__).resolve().parents[1] / "deploy" / "experiments.yaml"


def has_experiments() -> bool:
    """Whether this gateway has the experiments switch (the experiments package is in this build)."""
    return EXPERIMENTS_SETTING in GatewaySettings.model_fields


@dataclass(frozen=True)
class StartedGateway:
    """A gateway started here: where it answers, the keys it accepts, and the environment it read."""

    access: GatewayAccess
    env: Mapping[str, str]

    def setting(self, name: str) -> str:
        """A setting as this gateway read it: its `RECGPT_<NAME>` variable, else the settings' default."""
        told = self.env.get(f"RECGPT_{name.upper()}")
        return told if told is not None else str(GatewaySettings.model_fields[name].default)


@contextmanager
def gateway(
    stack_file: Path,
    overrides: Mapping[str, str],
    log: Path,
    ready_s: float = 60.0,
    *,
    key_rate_per_s: float | None = None,
) -> Iterator[StartedGateway]:
    """A gateway started with the platform's environment plus `overrides`, on free ports, accepting the
    keys of its own keys file; `key_rate_per_s` limits its caller's key (burst: one second of it)."""
    state = run_state.read(stack_file)
    stack = Stack(StackSettings())
    launch = next(launch for launch in stack.plan(state) if launch.process.name == "gateway")
    port, internal_port = _two_free_ports()
    with tempfile.TemporaryDirectory(prefix="recgpt-bench-gateway-") as scratch:
        if key_rate_per_s is None:
            rate, burst = gateway_access.UNLIMITED_RATE_PER_S, gateway_access.UNLIMITED_BURST
        else:
            rate, burst = key_rate_per_s, max(1, round(key_rate_per_s))
        keys = gateway_access.write_own_keys(Path(scratch) / "api-keys.json", rate_per_s=rate, burst=burst)
        env = {
            **launch.env,
            **overrides,
            "RECGPT_PORT": str(port),
            "RECGPT_INTERNAL_PORT": str(internal_port),
            "RECGPT_API_KEYS_FILE": str(keys.file),
            "RECGPT_LOG_LEVEL": "WARNING",
        }
        access = GatewayAccess(
            url=f"http://127.0.0.1:{port}",
            internal_url=f"http://127.0.0.1:{internal_port}",
            api_key=keys.api_key,
            admin_key=keys.admin_key,
        )
        with _running(launch.command, env, log) as process:
            answering = partial(_answers_ready, access.url)
            _wait_ready(process, answering, f"gateway at {access.url}", ready_s, log)
            yield StartedGateway(access, env)


@dataclass(frozen=True)
class StartedRetrieval:
    """A retrieval started here: its gRPC target (a gateway's RECGPT_RETRIEVAL_TARGET) and its metrics."""

    target: str
    metrics_url: str


@contextmanager
def retrieval(
    stack_file: Path, overrides: Mapping[str, str], log: Path, ready_s: float = 180.0
) -> Iterator[StartedRetrieval]:
    """A retrieval started with the platform's environment plus `overrides`, on free ports, reading the
    platform's catalogue, index and Redis; ready when its gRPC health says SERVING."""
    state = run_state.read(stack_file)
    stack = Stack(StackSettings())
    launch = next(launch for launch in stack.plan(state) if launch.process.name == "retrieval")
    port, metrics_port = _two_free_ports()
    env = {
        **launch.env,
        **overrides,
        "RECGPT_PORT": str(port),
        "RECGPT_METRICS_PORT": str(metrics_port),
        "RECGPT_LOG_LEVEL": "WARNING",
    }
    target = f"127.0.0.1:{port}"
    with _running(launch.command, env, log) as process:
        serving = partial(readiness.grpc_serving, target, service_names.RETRIEVAL)
        _wait_ready(process, serving, f"retrieval at {target}", ready_s, log)
        yield StartedRetrieval(target, f"http://127.0.0.1:{metrics_port}/metrics")


def _two_free_ports() -> tuple[int, int]:
    port = redis_server.free_port()
    while (internal := redis_server.free_port()) == port:
        pass
    return port, internal


@contextmanager
def _running(command: list[str], env: Mapping[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """The process, stopped (SIGTERM, then SIGKILL after 15 s) when the block ends."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        process = subprocess.Popen(
            command, env=dict(env), stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _answers_ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/readyz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def _wait_ready(
    process: subprocess.Popen[bytes], ready: Callable[[], bool], what: str, ready_s: float, log: Path
) -> None:
    """Polls `ready` until it holds; raises when `process` exits first or `ready_s` passes."""
    deadline = time.monotonic() + ready_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode}; see {log}")
        if ready():
            return
        time.sleep(0.25)
    raise RuntimeError(f"{what} not ready within {ready_s:g} s; see {log}")


def a_a_config(config: dict[str, Any]) -> dict[str, Any]:
    """`config` with every experiment enabled and every arm given its control arm's parameters."""
    config = copy.deepcopy(config)
    for layer in config["layers"]:
        for experiment in layer["experiments"]:
            experiment["enabled"] = True
            control = next(arm for arm in experiment["arms"] if arm["name"] == experiment["control"])
            for arm in experiment["arms"]:
                arm["params"] = dict(control["params"])
    return config


@contextmanager
def experiments_running(access: GatewayAccess) -> Iterator[bool]:
    """Every experiment of the repository's config switched on through the gateway's admin API (on the
    operators' listener, with the admin key), as an A/A test, and the config it served put back after;
    yields False when the gateway has no admin API.

    Every arm serves its control arm's parameters: the bench prices what experiments add to each request
    (assignment, exposure logging), not the variant a treatment arm would serve instead (recgpt-v1 costs
    a profile read, a tag search, explanations and near-line refreshes of its own)."""
    with httpx.Client(base_url=access.operators_url(), headers=access.admin_headers, timeout=10) as admin:
        # The operators' document lists the admin API (the callers' one does not).
        if ADMIN_PATH not in admin.get("/openapi.json").json()["paths"]:
            yield False
            return
        current = admin.get(f"{ADMIN_PATH}/current")
        current.raise_for_status()
        config = a_a_config(yaml.safe_load(EXPERIMENTS_FILE.read_text()))
        admin.put(ADMIN_PATH, json=config).raise_for_status()
        try:
            yield True
        finally:
            admin.put(ADMIN_PATH, json=current.json()["config"]).raise_for_status()
