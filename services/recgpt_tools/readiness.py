"""Whether a process of the platform is ready: one poll each, at the address the run state records."""

from __future__ import annotations

import socket
import urllib.error
import urllib.request
from collections.abc import Callable
from functools import partial
from urllib.parse import urljoin, urlsplit

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from recgpt_tools import redis_server
from recgpt_tools.registry import GrpcHealth, Process, RedisPing, Running
from recgpt_tools.run_state import RunState


def port_free(port: int) -> bool:
    """Whether a server could listen on `port` now; connections still in TIME_WAIT (a restart) don't count."""
    with socket.socket() as sock:
        # As every server we start does: without it, a port is "busy" for a minute after a stop.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def grpc_serving(target: str, service: str) -> bool:
    """Whether standard gRPC health at `target` says SERVING for `service` now."""
    try:
        with grpc.insecure_channel(target) as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            reply = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=2)
            return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)
    except grpc.RpcError:
        return False


def _redis_answers(redis_url: str) -> bool:
    port = urlsplit(redis_url).port
    return port is not None and redis_server.ping(port)


def _started() -> bool:
    return True


def ready_check(process: Process, state: RunState) -> Callable[[], bool]:
    """One poll of `process`'s readiness, at the address the run state records for it."""
    ready = process.ready
    if isinstance(ready, GrpcHealth):
        return partial(grpc_serving, state.targets[process.name], ready.service)
    if isinstance(ready, RedisPing):
        return partial(_redis_answers, state.redis_url)
    if isinstance(ready, Running):
        return _started
    base = state.urls.get(process.name) or state.metrics_urls[process.name]
    return partial(_http_ok, urljoin(base, ready.path))
