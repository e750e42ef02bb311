"""Readiness: Redis answers PING and every gRPC dependency reports SERVING on the standard health check.

A check's state is one word from a fixed set, never the error's text: errors name hosts and ports, and the
readiness body is read by whoever can reach the gateway. The log line has the details.
"""

from __future__ import annotations

import asyncio
import logging

import grpc
import redis.asyncio as aioredis
import redis.exceptions
from grpc_health.v1 import health_pb2, health_pb2_grpc

from gateway.clients import GatewayDeps

log = logging.getLogger(__name__)

OK = "ok"
# No answer within the readiness timeout.
TIMEOUT = "timeout"
# No connection (refused, reset, no route).
UNREACHABLE = "unreachable"
# Connected, but the service says it is not serving (loading, shutting down).
NOT_SERVING = "not_serving"
# Any other failure.
ERROR = "error"

RETRIEVAL = "retrieval"
# How gRPC's round_robin words a call it could not place because every replica's health says NOT_SERVING.
_UNHEALTHY_BACKENDS = "backend unhealthy"


async def check_redis(client: aioredis.Redis, timeout_s: float) -> str:
    try:
        async with asyncio.timeout(timeout_s):
            await client.ping()
    except TimeoutError:
        return _failed("redis", TIMEOUT, "no answer")
    except (redis.exceptions.ConnectionError, OSError) as error:
        return _failed("redis", UNREACHABLE, repr(error))
    except redis.exceptions.RedisError as error:
        return _failed("redis", ERROR, repr(error))
    return OK


async def check_grpc(name: str, channel: grpc.aio.Channel, service: str, timeout_s: float) -> str:
    stub = health_pb2_grpc.HealthStub(channel)
    try:
        response = await stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=timeout_s)
    except grpc.aio.AioRpcError as error:
        state = {
            grpc.StatusCode.UNAVAILABLE: UNREACHABLE,
            grpc.StatusCode.DEADLINE_EXCEEDED: TIMEOUT,
        }.get(error.code(), ERROR)
        if state == UNREACHABLE and _UNHEALTHY_BACKENDS in (error.details() or ""):
            # The channel watches every replica's health itself and sends nothing to one NOT_SERVING:
            # connected, but none serves.
            state = NOT_SERVING
        return _failed(name, state, f"{error.code().name}: {error.details()}")
    if response.status != health_pb2.HealthCheckResponse.SERVING:
        return _failed(name, NOT_SERVING, health_pb2.HealthCheckResponse.ServingStatus.Name(response.status))
    return OK


async def check_all(deps: GatewayDeps, timeout_s: float) -> dict[str, str]:
    """Each dependency's state, checked in parallel: "ok" or the word for why it is not usable."""
    names = ["redis"]
    checks = [check_redis(deps.redis, timeout_s)]
    for name, (channel, service) in deps.grpc_dependencies().items():
        names.append(name)
        checks.append(check_grpc(name, channel, service, timeout_s))
    return dict(zip(names, await asyncio.gather(*checks), strict=True))


def can_answer(checks: dict[str, str], last_resort_held: bool) -> bool:
    """Requests get items (perhaps degraded): retrieval serves, or the last-resort page stands in for it.

    Redis is not required: without it answers lose only the user's history, and a gateway taken out of
    rotation for a shared dependency's outage would turn a degraded service into none at all.
    """
    return checks.get(RETRIEVAL) == OK or last_resort_held


def _failed(name: str, state: str, detail: str) -> str:
    log.warning("dependency not ready", extra={"dependency": name, "state": state, "detail": detail})
    return state
