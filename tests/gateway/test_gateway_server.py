"""The gateway behind the real uvicorn + httptools stack, and its entry point's start-up checks."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest

from gateway.main import build_server, main
from gateway.settings import GatewaySettings


@dataclass(frozen=True)
class Served:
    public: str
    internal: str


@pytest.fixture
async def served(settings: GatewaySettings) -> AsyncIterator[Served]:
    limits = {"internal_port": 0, "header_timeout_s": 0.5, "body_timeout_s": 0.5}
    server = build_server(settings.model_copy(update=limits))
    task = asyncio.create_task(server.serve())
    for _ in range(500):
        if server.started or task.done():
            break
        await asyncio.sleep(0.01)
    assert server.started, "uvicorn did not start"
    public, internal = (s.sockets[0].getsockname()[1] for s in server.servers)
    try:
        yield Served(f"http://127.0.0.1:{public}", f"http://127.0.0.1:{internal}")
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, timeout=10)


async def test_each_listener_serves_its_own_routes(served: Served, api_key: str) -> None:
    """Told apart by the socket a request arrived on: a Host header naming the other port changes nothing."""
    auth = {"authorization": f"Bearer {api_key}"}
    async with httpx.AsyncClient(timeout=5, headers=auth) as client:
        internal_metrics = await client.get(served.internal + "/metrics")
        public_metrics = await client.get(served.public + "/metrics")
        disguised = await client.get(
            served.public + "/v1/admin/keys", headers={"host": served.internal.removeprefix("http://")}
        )
        keys = await client.get(served.internal + "/v1/admin/keys")

    assert internal_metrics.status_code == 200 and "recgpt_requests_total" in internal_metrics.text
    assert public_metrics.status_code == 404
    assert disguised.status_code == 404
    assert keys.status_code == 200 and keys.json()["keys"][0]["name"] == "tests"


async def test_recommend_over_http_keeps_the_callers_request_id(served: Served, api_key: str) -> None:
    auth = {"authorization": f"Bearer {api_key}"}
    async with httpx.AsyncClient(base_url=served.public, timeout=5, headers=auth) as client:
        response = await client.post(
            "/v1/recommend", json={"user_id": "frank", "n": 4}, headers={"X-Request-Id": "r-1"}
        )

    assert response.status_code == 200, response.text
    assert response.headers["x-request-id"] == "r-1"
    assert response.headers["content-type"] == "application/json"
    assert len(response.json()["items"]) == 4


async def test_chunked_oversized_body_is_refused_while_streaming(served: Served, api_key: str) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(80):
            yield b"a" * 1024

    auth = {"authorization": f"Bearer {api_key}"}
    async with httpx.AsyncClient(base_url=served.public, timeout=5, headers=auth) as client:
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


async def raw_exchange(url: str, sent: bytes, *, wait_s: float = 5.0) -> bytes:
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(sent)
        await writer.drain()
        async with asyncio.timeout(wait_s):
            return await reader.read()
    finally:
        writer.close()


async def test_a_megabyte_of_headers_is_refused_unserved(served: Served, api_key: str) -> None:
    huge = b"x-padding: " + b"a" * (1 << 20) + b"\r\n"
    answer = await raw_exchange(
        served.public,
        b"POST /v1/recommend HTTP/1.1\r\nhost: g\r\nauthorization: Bearer "
        + api_key.encode()
        + b"\r\n"
        + huge,
    )
    assert answer.startswith(b"HTTP/1.1 431 ")
    assert b"headers larger than" in answer


async def test_slow_clients_are_cut_off_and_others_served(served: Served, api_key: str) -> None:
    """Clients that send half a request (headers or body) get a 408 and lose their connection; meanwhile
    everyone else is served."""
    started = time.monotonic()
    slow_headers = [
        asyncio.create_task(raw_exchange(served.public, b"POST /v1/recommend HTTP/1.1\r\nhost: g\r\n"))
        for _ in range(50)
    ]
    slow_body = asyncio.create_task(
        raw_exchange(
            served.public,
            b"POST /v1/events HTTP/1.1\r\nhost: g\r\nauthorization: Bearer "
            + api_key.encode()
            + b'\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{"events": [',
        )
    )
    auth = {"authorization": f"Bearer {api_key}"}
    async with httpx.AsyncClient(base_url=served.public, timeout=5, headers=auth) as client:
        others = [await client.post("/v1/recommend", json={"user_id": "frank", "n": 2}) for _ in range(5)]

    assert [answer.status_code for answer in others] == [200] * 5
    for answer in [*await asyncio.gather(*slow_headers), await slow_body]:
        assert answer.startswith(b"HTTP/1.1 408 "), answer[:80]
        assert b"not received within" in answer
    assert time.monotonic() - started < 5
