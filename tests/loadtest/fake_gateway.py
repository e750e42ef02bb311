"""A gateway stand-in with the real one's two listeners, on real sockets: it answers the few routes the load
tools call and records, per listener, what each request asked and which key it presented."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from loadtest.gateway_access import GatewayAccess

ADMIN_PATH = "/v1/admin/experiments"


@dataclass(frozen=True)
class Seen:
    listener: str  # "public" or "internal"
    method: str
    path: str
    authorization: str | None


@dataclass
class FakeGateway:
    access: GatewayAccess
    seen: list[Seen] = field(default_factory=list)
    # The experiment configs PUT to the admin API, in order.
    configs: list[Any] = field(default_factory=list)

    def on(self, listener: str) -> list[Seen]:
        return [request for request in self.seen if request.listener == listener]


def _handler(fake: FakeGateway, listener: str) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _answer(self, body: object, status: int = 200) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _record(self) -> bytes:
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length) if length else b""
            path = self.path.split("?", 1)[0]
            fake.seen.append(Seen(listener, self.command, path, self.headers.get("authorization")))
            return body

        def do_GET(self) -> None:
            self._record()
            path = self.path.split("?", 1)[0]
            if path == "/openapi.json":
                # The admin API is in the operators' document only, as on the real gateway.
                paths: dict[str, object] = {ADMIN_PATH if listener == "internal" else "/v1/recommend": {}}
                self._answer({"paths": paths})
            elif listener == "internal" and path == f"{ADMIN_PATH}/current":
                self._answer({"revision": 1, "config": {"layers": []}})
            else:
                self._answer({"detail": "not found"}, 404)

        def do_PUT(self) -> None:
            body = self._record()
            if listener == "internal" and self.path == ADMIN_PATH:
                fake.configs.append(json.loads(body))
                self._answer({"revision": len(fake.configs) + 1})
            else:
                self._answer({"detail": "not found"}, 404)

        def do_POST(self) -> None:
            self._record()
            if listener == "public" and self.path == "/v1/recommend":
                self._answer({"items": [], "degraded": []})
            else:
                self._answer({"detail": "not found"}, 404)

    return Handler


@contextmanager
def fake_gateway(api_key: str = "rgk_caller", admin_key: str = "rgk_admin") -> Iterator[FakeGateway]:
    """Both listeners on free ports of 127.0.0.1, served from threads until the block ends."""
    fake = FakeGateway(GatewayAccess(url="", api_key=api_key, admin_key=admin_key))
    servers = {
        listener: ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake, listener))
        for listener in ("public", "internal")
    }
    threads = [threading.Thread(target=server.serve_forever, daemon=True) for server in servers.values()]
    for thread in threads:
        thread.start()
    fake.access = GatewayAccess(
        url=f"http://127.0.0.1:{servers['public'].server_address[1]}",
        internal_url=f"http://127.0.0.1:{servers['internal'].server_address[1]}",
        api_key=api_key,
        admin_key=admin_key,
    )
    try:
        yield fake
    finally:
        for server in servers.values():
            server.shutdown()
            server.server_close()
        for thread in threads:
            thread.join()
