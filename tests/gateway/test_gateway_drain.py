"""The gateway stopping for a rollout: from SIGTERM, /readyz says 503 while requests are still answered for
the drain window; then it stops, with a grace longer than its longest request."""

from __future__ import annotations

import asyncio

import httpx

from gateway.main import build_server
from gateway.settings import GatewaySettings


async def test_sigterm_fails_readiness_while_requests_are_still_served(
    settings: GatewaySettings, api_key: str
) -> None:
    server = build_server(settings.model_copy(update={"internal_port": 0, "drain_s": 1.0}))
    serving = asyncio.create_task(server.serve())
    for _ in range(500):
        if server.started or serving.done():
            break
        await asyncio.sleep(0.01)
    assert server.started, "uvicorn did not start"
    public = f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    auth = {"authorization": f"Bearer {api_key}"}
    try:
        async with httpx.AsyncClient(base_url=public, timeout=5, headers=auth) as client:
            assert (await client.get("/readyz")).status_code == 200
            # What SIGTERM's handler hands the loop (the handler itself would have uvicorn raise SIGTERM
            # again in this process once stopped).
            server.drain.signal()
            await asyncio.sleep(0.05)
            ready = await client.get("/readyz")
            answered = await client.post("/v1/recommend", json={"user_id": "frank", "n": 4})
            assert not serving.done()
        assert ready.status_code == 503
        assert ready.json() == {"ready": False, "draining": True, "checks": {}, "failed": []}
        assert answered.status_code == 200, answered.text
        await asyncio.wait_for(serving, 10)
    finally:
        server.should_exit = True
        await asyncio.wait_for(serving, 10)


def test_the_stop_grace_outlasts_the_longest_request(settings: GatewaySettings) -> None:
    server = build_server(settings)
    # The feed's command may wait on the LLM parser for its whole deadline.
    assert server.config.timeout_graceful_shutdown is not None
    assert server.config.timeout_graceful_shutdown > settings.feed_parse_deadline_s
    assert settings.stop_grace_s > settings.longest_call_s() >= settings.feed_parse_deadline_s
