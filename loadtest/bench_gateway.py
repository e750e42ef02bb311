"""A second gateway beside the running platform, launched as `make run` launches its own but on a free port
and with settings overridden: the benchmark compares experiments off and on in the same run this way.
"""

from __future__ import annotations

import copy
import signal
import subprocess
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import yaml  # type: ignore[import-untyped]

from gateway.settings import GatewaySettings
from recgpt_tools import redis_server, run_state
from recgpt_tools.stack import Stack
from recgpt_tools.stack_settings import StackSettings

# The gateway setting that turns assignment and exposure logging off (the services/experiments package).
EXPERIMENTS_SETTING = "experiments_enabled"
EXPERIMENTS_ENV = "RECGPT_EXPERIMENTS_ENABLED"


ADMIN_PATH = "/v1/admin/experiments"
EXPERIMENTS_FILE = Path(__file__).resolve().parents[1] / "deploy" / "experiments.yaml"


def has_experiments() -> bool:
    """Whether this gateway has the experiments switch (the experiments package is in this build)."""
    return EXPERIMENTS_SETTING in GatewaySettings.model_fields


@contextmanager
def gateway(
    stack_file: Path, overrides: Mapping[str, str], log: Path, ready_s: float = 60.0
) -> Iterator[str]:
    """Yields the base URL of a gateway started with the platform's environment plus `overrides`."""
    state = run_state.read(stack_file)
    stack = Stack(StackSettings())
    launch = next(launch for launch in stack.plan(state) if launch.process.name == "gateway")
    port = redis_server.free_port()
    env = {**launch.env, **overrides, "RECGPT_PORT": str(port), "RECGPT_LOG_LEVEL": "WARNING"}
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        process = subprocess.Popen(
            launch.command, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(process, url, ready_s, log)
        yield url
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_ready(process: subprocess.Popen[bytes], url: str, ready_s: float, log: Path) -> None:
    deadline = time.monotonic() + ready_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gateway exited with {process.returncode}; see {log}")
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    raise RuntimeError(f"gateway at {url} not ready within {ready_s:g} s; see {log}")


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
def experiments_running(base_url: str, token: str) -> Iterator[bool]:
    """Every experiment of the repository's config switched on through the gateway's admin API, as an A/A
    test (and the config it served put back after); yields False when the gateway has no admin API.

    Every arm serves its control arm's parameters: the bench prices what experiments add to each request
    (assignment, exposure logging), not the variant a treatment arm would serve instead (recgpt-v1 costs
    a profile read, a tag search, explanations and near-line refreshes of its own)."""
    paths = httpx.get(f"{base_url}/openapi.json", timeout=10).json()["paths"]
    if ADMIN_PATH not in paths:
        yield False
        return
    headers = {"authorization": f"Bearer {token}"}
    current = httpx.get(f"{base_url}{ADMIN_PATH}/current", headers=headers, timeout=10)
    current.raise_for_status()
    config = a_a_config(yaml.safe_load(EXPERIMENTS_FILE.read_text()))
    httpx.put(f"{base_url}{ADMIN_PATH}", json=config, headers=headers, timeout=10).raise_for_status()
    try:
        yield True
    finally:
        previous = current.json()["config"]
        httpx.put(f"{base_url}{ADMIN_PATH}", json=previous, headers=headers, timeout=10).raise_for_status()
