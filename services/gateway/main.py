"""Entry point (`recgpt-gateway`, `python -m gateway`): uvicorn on uvloop + httptools, one worker, two
listeners: the callers' port and the operators' internal one."""

from __future__ import annotations

import logging
import socket

import uvicorn
from pydantic import ValidationError

from gateway.app import Gateway, create_app
from gateway.http_protocol import guarded_protocol
from gateway.settings import GatewaySettings
from recgpt_serving import logs

log = logging.getLogger(__name__)


class GatewayServer(uvicorn.Server):
    """uvicorn serving the public and the internal socket; the app tells them apart by the socket's port."""

    def __init__(self, config: uvicorn.Config, gateway: Gateway, settings: GatewaySettings) -> None:
        super().__init__(config)
        self.gateway = gateway
        self.settings = settings

    async def serve(self, sockets: list[socket.socket] | None = None) -> None:
        if sockets is None:
            public = _listen(self.settings.bind_host, self.settings.port)
            internal = _listen(self.settings.internal_bind_host, self.settings.internal_port)
            self.gateway.internal_ports = frozenset({internal.getsockname()[1]})
            sockets = [public, internal]
            log.info(
                "listening",
                extra={"public": _address(public), "internal": _address(internal)},
            )
        await super().serve(sockets)


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    return socket.create_server((host, port), family=family)


def _address(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"{host}:{port}"


def build_server(settings: GatewaySettings) -> GatewayServer:
    """uvicorn as configured in production: no access log (metrics and JSON logs instead)."""
    gateway = create_app(settings)
    config = uvicorn.Config(
        gateway,
        host=settings.bind_host,
        port=settings.port,
        loop="uvloop",
        http=guarded_protocol(settings.max_header_bytes, settings.header_timeout_s),
        lifespan="on",
        access_log=False,
        # Our JSON logging stays in place: uvicorn must not install its own handlers.
        log_config=None,
        workers=1,
        # SIGTERM: stop accepting, let in-flight requests finish for this long, then run the lifespan's close.
        timeout_graceful_shutdown=max(1, round(settings.shutdown_grace_s)),
        server_header=False,
    )
    return GatewayServer(config, gateway, settings)


def main() -> None:
    try:
        settings = GatewaySettings()  # required values come from the environment
    except ValidationError as error:
        # SystemExit with a message prints it to stderr and exits with status 1.
        raise SystemExit(f"recgpt-gateway: invalid settings:\n{error}") from error
    logs.configure("gateway", settings.log_level)
    log.info("starting", extra={"host": settings.bind_host, "port": settings.port})
    build_server(settings).run()


if __name__ == "__main__":
    main()
