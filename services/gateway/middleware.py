"""Pure ASGI middleware (no per-request task or body copy of BaseHTTPMiddleware): request id, metrics,
body limit."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Collection, Mapping

import orjson
from prometheus_client import Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from recgpt_serving import context, metrics
from recgpt_serving.metrics import GATEWAY_REJECTED

REQUEST_ID_HEADER = b"x-request-id"
# Accepted from callers as is; anything else (too long, odd bytes) is replaced by a fresh id, since the id
# travels in gRPC metadata and log lines.
_VALID_REQUEST_ID = re.compile(rb"[A-Za-z0-9._:-]{1,64}")
# Methods whose bodies the gateway reads.
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
UNMATCHED = "unmatched"


class RequestIdMiddleware:
    """Takes X-Request-Id when valid, else makes one; binds it for logs and gRPC, returns it in a header."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        raw = header(scope, REQUEST_ID_HEADER)
        request_id = raw.decode() if raw and _VALID_REQUEST_ID.fullmatch(raw) else context.new_request_id()
        id_header = (REQUEST_ID_HEADER, request_id.encode())

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), id_header]
            await send(message)

        with context.bound(context.RequestContext(request_id=request_id)):
            await self.app(scope, receive, send_with_id)


class MetricsMiddleware:
    """recgpt_requests_total and recgpt_request_duration_seconds by route template and status code."""

    def __init__(self, app: ASGIApp, service: str, paths: Collection[str] = ()) -> None:
        self.app = app
        self.service = service
        # Paths of routes without parameters: the label of requests refused before routing (413).
        self.paths = frozenset(paths)
        self._counters: dict[tuple[str, int], Counter] = {}
        self._histograms: dict[str, Histogram] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500

        async def send_recording(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        start = time.perf_counter()
        try:
            await self.app(scope, receive, send_recording)
        finally:
            method = self._method(scope)
            self._histogram(method).observe(time.perf_counter() - start)
            self._counter(method, status).inc()

    def _method(self, scope: Scope) -> str:
        route = scope.get("route")
        path = getattr(route, "path", None)
        if isinstance(path, str):
            return path
        return scope["path"] if scope["path"] in self.paths else UNMATCHED

    def _counter(self, method: str, status: int) -> Counter:
        key = (method, status)
        counter = self._counters.get(key)
        if counter is None:
            counter = self._counters[key] = metrics.REQUESTS.labels(self.service, method, str(status))
        return counter

    def _histogram(self, method: str) -> Histogram:
        histogram = self._histograms.get(method)
        if histogram is None:
            histogram = metrics.REQUEST_DURATION.labels(self.service, method)
            self._histograms[method] = histogram
        return histogram


class BodyLimitMiddleware:
    """Refuses bodies over `max_bytes` with 413, by Content-Length or while reading a chunked body.

    The body is read here in full (it is small by construction) and replayed to the app in one message.
    A refused body is still read and dropped, up to `drain_bytes`, before the answer: a client still
    sending when the server closes gets a connection reset instead of the 413.
    """

    def __init__(
        self, app: ASGIApp, max_bytes: int, drain_bytes: int = 1 << 20, timeout_s: float = 5.0
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        # The whole body must arrive within this of the app's first read: a client trickling it is refused
        # with 408 instead of holding a slot.
        self.timeout_s = timeout_s
        self.drain_bytes = max(drain_bytes, max_bytes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in _BODY_METHODS:
            await self.app(scope, receive, send)
            return
        declared = header(scope, b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.drain_bytes):
            await self._refuse(send, close=True)
            return
        chunks: list[bytes] = []
        size = 0
        more = True
        deadline = asyncio.get_running_loop().time() + self.timeout_s
        while more:
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                GATEWAY_REJECTED.labels("slow_body").inc()
                await refuse(
                    send,
                    408,
                    f"request body not received within {self.timeout_s:g} s",
                    headers={"connection": "close"},
                )
                return
            if message["type"] == "http.disconnect":
                return
            chunk: bytes = message.get("body", b"")
            size += len(chunk)
            more = message.get("more_body", False)
            if size > self.max_bytes:
                drained = not more or await self._drain(receive, size)
                await self._refuse(send, close=not drained)
                return
            chunks.append(chunk)
        body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    async def _drain(self, receive: Receive, size: int) -> bool:
        """Reads and drops the rest of the body; False when it runs past `drain_bytes`."""
        while size <= self.drain_bytes:
            message = await receive()
            if message["type"] == "http.disconnect":
                return False
            size += len(message.get("body", b""))
            if not message.get("more_body", False):
                return True
        return False

    async def _refuse(self, send: Send, *, close: bool) -> None:
        # Without close, the rest of the body is left unread: the connection cannot be reused.
        await refuse(
            send,
            413,
            f"request body larger than {self.max_bytes} bytes",
            headers={"connection": "close"} if close else {},
        )


async def refuse(send: Send, status: int, reason: str, *, headers: Mapping[str, str] | None = None) -> None:
    """An error answer from middleware, shaped as the app's own: JSON with the request id and the reason."""
    content = orjson.dumps({"request_id": context.current().request_id, "reason": reason})
    raw = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(content)).encode()),
        *((name.encode(), value.encode()) for name, value in (headers or {}).items()),
    ]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": content})


def header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key == name:
            found: bytes = value
            return found
    return None
