"""Runs a gRPC service the way every RecGPT service runs: health, reflection, metrics, context, shutdown."""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from recgpt_serving import context, metrics
from recgpt_serving.drain import Drain

log = logging.getLogger(__name__)
# The shortest gap between a client's pings (while it waits on a call) that the servers accept: below
# grpc_client.KEEPALIVE_TIME_MS, so that the platform's own clients never strike out.
MIN_PING_INTERVAL_MS = 10_000

Handler = Callable[[Any, grpc.aio.ServicerContext], Awaitable[Any]]


class ContextInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """Binds the caller's request context and records the request metrics of every unary call."""

    def __init__(self, service: str) -> None:
        self.service = service

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        if handler is None or handler.unary_unary is None:
            return handler
        method = handler_call_details.method.rsplit("/", 1)[-1]
        if handler_call_details.method.startswith(("/grpc.health", "/grpc.reflection")):
            return handler
        inner: Handler = handler.unary_unary
        ctx = context.RequestContext.from_metadata(handler_call_details.invocation_metadata)

        async def observed(request: Any, servicer_context: grpc.aio.ServicerContext) -> Any:
            start = time.perf_counter()
            code = grpc.StatusCode.OK
            with context.bound(ctx):
                try:
                    return await inner(request, servicer_context)
                except grpc.aio.AbortError:
                    code = servicer_context.code() or grpc.StatusCode.UNKNOWN
                    raise
                except asyncio.CancelledError:
                    code = grpc.StatusCode.CANCELLED
                    raise
                except Exception:
                    code = grpc.StatusCode.INTERNAL
                    log.exception("unhandled error", extra={"method": method})
                    raise
                finally:
                    elapsed = time.perf_counter() - start
                    metrics.REQUESTS.labels(self.service, method, code.name).inc()
                    metrics.REQUEST_DURATION.labels(self.service, method).observe(elapsed)
                    if log.isEnabledFor(logging.DEBUG):
                        log.debug("rpc", extra={"method": method, "code": code.name, "seconds": elapsed})

        return grpc.unary_unary_rpc_method_handler(
            observed,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )


class GrpcService:
    """A gRPC server with standard health (NOT_SERVING until `mark_serving`) and reflection.

    At most `max_concurrent_rpcs` calls run at once; the next ones are refused at once with
    RESOURCE_EXHAUSTED (not queued), so an overloaded service sheds load instead of piling up
    calls whose callers have long given up.
    """

    def __init__(
        self,
        name: str,
        full_service_names: Sequence[str],
        *,
        max_concurrent_rpcs: int,
        max_connection_age_s: float = 0.0,
        connection_age_grace_s: float = 0.0,
    ) -> None:
        if max_concurrent_rpcs < 1:
            raise ValueError(f"max_concurrent_rpcs must be at least 1, got {max_concurrent_rpcs}")
        self.name = name
        self.full_service_names = list(full_service_names)
        options: list[tuple[str, int]] = [
            ("grpc.so_reuseport", 0),
            # gRPC's default (5 minutes) counts a client's keepalive pings during a long call as abuse.
            ("grpc.http2.min_ping_interval_without_data_ms", MIN_PING_INTERVAL_MS),
        ]
        if max_connection_age_s > 0:
            # Clients get GOAWAY after this long and resolve the name again (new replicas join); the calls
            # on the old connection keep the grace to finish.
            options += [
                ("grpc.max_connection_age_ms", round(max_connection_age_s * 1000)),
                ("grpc.max_connection_age_grace_ms", round(connection_age_grace_s * 1000)),
            ]
        self.server = grpc.aio.server(
            interceptors=[ContextInterceptor(name)],
            options=options,
            maximum_concurrent_rpcs=max_concurrent_rpcs,
        )
        self.health = health.aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        reflection.enable_server_reflection(
            [*self.full_service_names, health.SERVICE_NAME, reflection.SERVICE_NAME], self.server
        )
        self.port = 0

    def bind(self, host: str, port: int) -> int:
        self.port = self.server.add_insecure_port(f"{host}:{port}")
        if self.port == 0:
            raise RuntimeError(f"{self.name}: cannot bind {host}:{port}")
        return self.port

    async def start(self) -> None:
        await self._set_all(health_pb2.HealthCheckResponse.NOT_SERVING)
        await self.server.start()
        log.info("grpc server listening", extra={"port": self.port})

    async def mark_serving(self) -> None:
        await self._set_all(health_pb2.HealthCheckResponse.SERVING)
        log.info("serving")

    async def stop(self, grace_s: float) -> None:
        await self._set_all(health_pb2.HealthCheckResponse.NOT_SERVING)
        await self.server.stop(grace_s)
        log.info("stopped")

    async def run_until_signalled(self, grace_s: float, drain_s: float = 0.0) -> None:
        """Serves until SIGTERM or SIGINT, drains (`recgpt_serving.drain`), then stops with `grace_s`."""
        drain = Drain(drain_s)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, drain.signal)
        try:
            await self.serve_until_drained(drain, grace_s)
        finally:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)

    async def serve_until_drained(self, drain: Drain, grace_s: float) -> None:
        """At `drain`'s first signal health turns NOT_SERVING while calls are still served; when its window
        ends the server stops accepting and in-flight calls get `grace_s`."""
        await drain.signalled()
        await self._set_all(health_pb2.HealthCheckResponse.NOT_SERVING)
        log.info("draining", extra={"drain_s": drain.window_s, "grace_s": grace_s})
        await drain.window()
        log.info("shutting down", extra={"grace_s": grace_s})
        await self.stop(grace_s)

    async def _set_all(self, status: health_pb2.HealthCheckResponse.ServingStatus.ValueType) -> None:
        await self.health.set("", status)
        for service in self.full_service_names:
            await self.health.set(service, status)
