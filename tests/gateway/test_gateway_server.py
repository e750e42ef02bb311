"""The gateway behind the real uvicorn + httptools stack, and its entry point's start-up checks."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator

import httpx
import pytest

from gateway.main import build_server, main
from gateway.settings import GatewaySettings


@pytest.fixture
async def served(settings: GatewaySettings) -> AsyncIterator[str]:
    server = build_server(settings)
    task = asyncio.create_task(server.serve())
    for _ in range(500):
        if server.started or task.done():
            break
        await asyncio.sleep(0.01)
    assert server.started, "uvicorn did not start"
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, timeout=10)


async def test_recommend_over_http_keeps_the_callers_request_id(served: str) -> None:
    async with httpx.AsyncClient(base_url=served, timeout=5) as client:
        response = await client.post(
            "/v1/recommend", json={"user_id": "frank", "n": 4}, headers={"X-Request-Id": "r-1"}
        )

    assert response.status_code == 200, response.text
    assert response.headers["x-request-id"] == "r-1"
    assert response.headers["content-type"] == "application/json"
    assert len(response.json()["items"]) == 4


async def test_chunked_oversized_body_is_refused_while_streaming(served: str) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(80):
            yield b"a" * 1024

    async with httpx.AsyncClient(base_url=served, timeout=5) as client:
        response = await client.post(
            "/v1/recommend", content=chunks(), headers={"content-type": "application/json"}
        )

    assert response.status_code == 413
    assert "larger than" in response.json()["reason"]


def test_entry_point_refuses_to_start_without_required_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in [key for key in os.environ if key.startswith("RECGPT_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")

    with pytest.raises(SystemExit) as exited:
        main()

    message = str(exited.value.code)
    assert "invalid settings" in message
    assert "retrieval_target" in message
    assert "port" in message
