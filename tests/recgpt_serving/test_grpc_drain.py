"""A gRPC service stopping for a rollout: health says NOT_SERVING at once, calls are still served during the
drain window, then it stops accepting; clients balancing over replicas move to the ones still serving."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from recgpt_serving import grpc_client
from recgpt_serving.drain import Drain
from recgpt_serving.grpc_server import GrpcService

SERVICE = "test.Echo"
METHOD = f"/{SERVICE}/Echo"


@asynccontextmanager
async def echo_service(name: str, hits: Counter[str], delay_s: float = 0.0) -> AsyncIterator[GrpcService]:
    """A service answering its own name, counting the calls it served."""

    async def echo(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        hits[name] += 1
        await asyncio.sleep(delay_s)
        return name.encode()

    service = GrpcService(name, [SERVICE], max_concurrent_rpcs=64)
    handler = grpc.method_handlers_generic_handler(
        SERVICE, {"Echo": grpc.unary_unary_rpc_method_handler(echo)}
    )
    service.server.add_generic_rpc_handlers((handler,))
    service.bind("127.0.0.1", 0)
    await service.start()
    await service.mark_serving()
    try:
        yield service
    finally:
        await service.stop(0)


async def health(target: str) -> int:
    async with grpc.aio.insecure_channel(target) as channel:
        reply = await health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service=SERVICE), timeout=2
        )
    return int(reply.status)


async def test_a_draining_service_fails_health_but_serves_until_its_window_ends() -> None:
    hits: Counter[str] = Counter()
    async with echo_service("a", hits, delay_s=0.3) as service:
        target = f"127.0.0.1:{service.port}"
        drain = Drain(0.5)
        stopping = asyncio.create_task(service.serve_until_drained(drain, grace_s=2))
        async with grpc.aio.insecure_channel(target) as channel:
            call = channel.unary_unary(METHOD)
            in_flight = asyncio.ensure_future(call(b"", timeout=5))
            await asyncio.sleep(0.1)
            drain.signal()
            await asyncio.sleep(0.05)
            assert await health(target) == health_pb2.HealthCheckResponse.NOT_SERVING
            # A new call during the window (a client that has not noticed yet) is served.
            assert await call(b"", timeout=5) == b"a"
            assert await in_flight == b"a"
            await asyncio.wait_for(stopping, 5)
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await call(b"", timeout=1)
        assert refused.value.code() == grpc.StatusCode.UNAVAILABLE


async def test_calls_in_flight_when_the_window_ends_finish_within_the_grace() -> None:
    hits: Counter[str] = Counter()
    async with echo_service("a", hits, delay_s=0.5) as service:
        drain = Drain(0.1)
        stopping = asyncio.create_task(service.serve_until_drained(drain, grace_s=3))
        async with grpc.aio.insecure_channel(f"127.0.0.1:{service.port}") as channel:
            drain.signal()
            answer = await channel.unary_unary(METHOD)(b"", timeout=5)
        await asyncio.wait_for(stopping, 5)
    assert answer == b"a"


async def test_clients_balance_over_replicas_and_skip_one_that_drains() -> None:
    hits: Counter[str] = Counter()
    async with echo_service("a", hits) as first, echo_service("b", hits) as second:
        target = f"ipv4:127.0.0.1:{first.port},127.0.0.1:{second.port}"
        async with grpc_client.channel(target, SERVICE) as channel:
            call = channel.unary_unary(METHOD)
            for _ in range(20):
                await call(b"", timeout=2)
            assert set(hits) == {"a", "b"}

            hits.clear()
            drain = Drain(60)
            stopping = asyncio.create_task(first.serve_until_drained(drain, grace_s=1))
            drain.signal()
            await asyncio.sleep(0.3)  # the channel watches each replica's health
            for _ in range(20):
                await call(b"", timeout=2)
            assert hits == {"b": 20}
            drain.signal()
            await asyncio.wait_for(stopping, 5)
