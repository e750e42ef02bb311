"""Channels to other services: retries on UNAVAILABLE declared in the service config, context in metadata."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import grpc

from recgpt_serving import context


def service_config(full_service_name: str) -> str:
    """Calls spread over every address the target resolves to (`dns:///` names a headless Service's pods,
    `ipv4:a,b` lists replicas), skipping a replica whose standard health says NOT_SERVING (one draining for
    a rollout, or still loading); retries only UNAVAILABLE (the call never reached a server), a bounded
    number of times."""
    return json.dumps(
        {
            "loadBalancingConfig": [{"round_robin": {}}],
            "healthCheckConfig": {"serviceName": full_service_name},
            "methodConfig": [
                {
                    "name": [{"service": full_service_name}],
                    "retryPolicy": {
                        "maxAttempts": 3,
                        "initialBackoff": "0.01s",
                        "maxBackoff": "0.1s",
                        "backoffMultiplier": 2,
                        "retryableStatusCodes": ["UNAVAILABLE"],
                    },
                }
            ],
        }
    )


class MetadataInterceptor(grpc.aio.UnaryUnaryClientInterceptor):  # type: ignore[misc]
    """Adds the current request context to every outbound call's metadata."""

    async def intercept_unary_unary(
        self,
        continuation: Callable[[grpc.aio.ClientCallDetails, Any], Awaitable[Any]],
        client_call_details: grpc.aio.ClientCallDetails,
        request: Any,
    ) -> Any:
        extra = context.current().to_metadata()
        if extra:
            metadata = grpc.aio.Metadata(*(client_call_details.metadata or ()), *extra)
            client_call_details = grpc.aio.ClientCallDetails(
                client_call_details.method,
                client_call_details.timeout,
                metadata,
                client_call_details.credentials,
                client_call_details.wait_for_ready,
            )
        return await continuation(client_call_details, request)


# A ping every 30 s while calls are in flight finds a dead connection before the call's deadline does; the
# servers accept pings this often (grpc_server.MIN_PING_INTERVAL_MS), or they answer a client waiting on a
# long LLM call with GOAWAY (too_many_pings) and it reconnects.
KEEPALIVE_TIME_MS = 30_000


def channel(target: str, full_service_name: str) -> grpc.aio.Channel:
    return grpc.aio.insecure_channel(
        target,
        options=[
            ("grpc.enable_retries", 1),
            ("grpc.service_config", service_config(full_service_name)),
            ("grpc.keepalive_time_ms", KEEPALIVE_TIME_MS),
            # Reconnect within about two seconds of a service coming back (gRPC's default backoff grows
            # to two minutes): an outage ends when the service returns, not at the next slot of a backoff.
            ("grpc.initial_reconnect_backoff_ms", 250),
            ("grpc.max_reconnect_backoff_ms", 2_000),
        ],
        interceptors=[MetadataInterceptor()],
    )
