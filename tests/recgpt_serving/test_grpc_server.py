"""GrpcService caps the calls it serves at once (the next one is refused at once, not queued) and accepts the
platform's own clients' keepalive pings."""

from __future__ import annotations

import asyncio

import grpc
import pytest

from recgpt_serving import grpc_client, grpc_server
from recgpt_serving.grpc_server import GrpcService

SERVICE = "test.Slow"
METHOD = f"/{SERVICE}/Wait"


class Gate:
    """A unary method that holds every call until the test opens the gate."""

    def __init__(self) -> None:
        self.entered = asyncio.Event()
        self.release = asyncio.Event()

    async def wait(self, request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        self.entered.set()
        await self.release.wait()
        return request


async def test_calls_beyond_the_cap_are_refused_with_resource_exhausted() -> None:
    gate = Gate()
    service = GrpcService("slow", [SERVICE], max_concurrent_rpcs=1)
    handler = grpc.method_handlers_generic_handler(
        SERVICE, {"Wait": grpc.unary_unary_rpc_method_handler(gate.wait)}
    )
    service.server.add_generic_rpc_handlers((handler,))
    port = service.bind("127.0.0.1", 0)
    await service.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            call = channel.unary_unary(METHOD)
            first = asyncio.ensure_future(call(b"first", timeout=10))
            await asyncio.wait_for(gate.entered.wait(), 10)

            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await call(b"second", timeout=10)
            assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED

            gate.release.set()
            assert await first == b"first"
            # The slot is free again.
            assert await call(b"third", timeout=10) == b"third"
    finally:
        await service.stop(0)


def test_a_cap_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="max_concurrent_rpcs"):
        GrpcService("none", [SERVICE], max_concurrent_rpcs=0)


def test_the_servers_accept_the_platforms_own_clients_pings() -> None:
    """Else a server answers a client waiting on a long LLM call with GOAWAY (too_many_pings) and the
    client reconnects with its ping interval doubled."""
    assert grpc_server.MIN_PING_INTERVAL_MS < grpc_client.KEEPALIVE_TIME_MS
