"""Starts one vLLM worker process, waits until it serves, and stops it: for launchers and test fixtures."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path

import httpx

from recgpt_runtime.llm.engine import EngineSettings, vllm_command, vllm_env

# Measured on 2 CPU cores: 60-80 s from exec to a healthy server, most of it compilation warm-up.
DEFAULT_START_TIMEOUT_S = 240.0


def start(
    settings: EngineSettings, log_file: Path, base_env: Mapping[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """Starts the worker in its own session (so `stop` reaches its engine processes too)."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("ab") as log:
        return subprocess.Popen(
            vllm_command(settings),
            env=vllm_env(settings, os.environ if base_env is None else base_env),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def wait_healthy(
    settings: EngineSettings,
    process: subprocess.Popen[bytes] | None = None,
    timeout_s: float = DEFAULT_START_TIMEOUT_S,
) -> float:
    """Polls `/health` until it answers 200; returns the seconds waited. Fails fast if the process exits."""
    started = time.monotonic()
    while True:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"vLLM worker exited with code {process.returncode} while starting")
        try:
            if httpx.get(settings.health_url, timeout=2.0).status_code == 200:
                return time.monotonic() - started
        except httpx.HTTPError:
            pass
        if time.monotonic() - started > timeout_s:
            raise TimeoutError(f"vLLM worker at {settings.health_url} not healthy after {timeout_s} s")
        time.sleep(1.0)


def stop(process: subprocess.Popen[bytes], grace_s: float = 20.0) -> None:
    """SIGTERM to the worker's process group, then SIGKILL to what is left after `grace_s`."""
    if process.poll() is None:
        _signal_group(process, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=grace_s)
    # The engine core runs in child processes: make sure none outlives the server.
    _signal_group(process, signal.SIGKILL)
    process.wait()


def _signal_group(process: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, sig)
