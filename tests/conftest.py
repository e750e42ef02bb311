"""Fixtures shared by the whole suite: a real Redis, and a key prefix of its own for each test."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from recgpt_tools import redis_server

pytest_plugins = [
    "tests.running_platform",
    "tests.fake_llm_fixtures",
    "tests.vllm_fixtures",
    "tests.embedding_fixtures",
]

REPO_ROOT = Path(__file__).resolve().parents[1]
DATA = REPO_ROOT / "data"


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """REDIS_URL when the environment gives one, else a redis-server started for this session."""
    configured = os.environ.get("REDIS_URL")
    if configured:
        yield configured
        return
    workdir = tmp_path_factory.mktemp("redis")
    port = redis_server.free_port()
    process = redis_server.start(port, workdir, workdir / "redis.log")
    try:
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture
def cache_redis_url(tmp_path: Path) -> Iterator[str]:
    """A cache Redis as the launcher starts one (its own bound, least recently used evicted), 4 MB small."""
    port = redis_server.free_port()
    process = redis_server.start(
        port, tmp_path / "cache-redis", tmp_path / "cache-redis.log", redis_server.CacheBound("4mb")
    )
    try:
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.kill()
        process.wait(timeout=10)


@pytest.fixture
def fast_thread_switches() -> Iterator[None]:
    """Threads switch every microsecond instead of every 5 ms, so that races show within a test's time."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        yield
    finally:
        sys.setswitchinterval(before)


@pytest.fixture
def redis_prefix() -> str:
    return f"recgpt-test-{uuid.uuid4().hex[:12]}"


@pytest.fixture
async def redis_client(redis_url: str, redis_prefix: str) -> AsyncIterator[aioredis.Redis]:
    """A client whose test keys (under `redis_prefix`) are deleted afterwards."""
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    try:
        yield client
    finally:
        keys = [key async for key in client.scan_iter(match=f"{redis_prefix}:*", count=1000)]
        if keys:
            await client.delete(*keys)
        await client.aclose()


@pytest.fixture(scope="session")
def amazon_dir() -> Path:
    path = DATA / "amazon-scientific"
    if not path.is_dir():
        pytest.fail(f"dataset missing: {path} (the repository ships it under data/)")
    return path


@pytest.fixture(scope="session")
def movielens_dir() -> Path:
    path = DATA / "movielens-small"
    if not path.is_dir():
        pytest.fail(f"dataset missing: {path} (the repository ships it under data/)")
    return path
