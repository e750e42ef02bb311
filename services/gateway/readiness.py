"""Readiness: Redis answers PING and every gRPC dependency reports SERVING on the standard health check."""

from __future__ import annotations

import asyncio

import grpc
import redis.asyncio as aioredis
import redis.exceptions
from grpc_health.v1 import health_pb2, health_pb2_grpc

from gateway.clients import GatewayDeps

OK = "ok"


async def check_redis(client: aioredis.Redis, timeout_s: float) -> str:
    try:
        async with asyncio.timeout(timeout_s):
            await client.ping()
    except TimeoutError:
        return f"no answer within {timeout_s:g} s"
    except (redis.exceptions.RedisError, OSError) as error:
        return f"{type(error).__name__}: {error}"
    return OK


async def check_grpc(channel: grpc.aio.Channel, service: str, timeout_s: float) -> str:
    stub = health_pb2_grpc.HealthStub(channel)
    try:
        response = await stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=timeout_s)
    except grpc.aio.AioRpcError as error:
        return f"{error.code().name}: {error.details() or 'no details'}"
    if response.status != health_pb2.HealthCheckResponse.SERVING:
        status: str = health_pb2.HealthCheckResponse.ServingStatus.Name(response.status)
        return status
    return OK


async def check_all(deps: GatewayDeps, timeout_s: float) -> dict[str, str]:
    """Each dependency's state, checked in parallel: "ok" or the reason it is not usable."""
    names = ["redis"]
    checks = [check_redis(deps.redis, timeout_s)]
    for name, (channel, service) in deps.grpc_dependencies().items():
        names.append(name)
        checks.append(check_grpc(channel, service, timeout_s))
    return dict(zip(names, await asyncio.gather(*checks), strict=True))
