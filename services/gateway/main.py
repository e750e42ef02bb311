"""Entry point (`recgpt-gateway`, `python -m gateway`): uvicorn on uvloop + httptools, one worker, two
listeners: the callers' port and the operators' internal one."""

from __future__ import annotations

import asyncio
import logging
import math
import socket
from types import FrameType

import uvicorn
from pydantic import ValidationError

from gateway.app import Gateway, create_app
from gateway.http_protocol import guarded_protocol
from gateway.settings import GatewaySettings
from recgpt_serving import logs
from recgpt_serving.drain import Drain, Phase

log = logging.getLogger(__name__)


class GatewayServer(uvicorn.Server):
    """uvicorn serving the public and the internal socket; the app tells them apart by the socket's port.

    SIGTERM drains first (`recgpt_serving.drain`): /readyz answers 503 while requests are still served for
    `drain_s`; only then does uvicorn stop accepting and give in-flight requests `stop_grace_s`.
    """

    def __init__(self, config: uvicorn.Config, gateway: Gateway, settings: GatewaySettings) -> None:
        super().__init__(config)
        self.gateway = gateway
        self.settings = settings
        self.drain: Drain = gateway.state.drain
        self._loop: asyncio.AbstractEventLoop | None = None
        self._first_signal: int | None = None

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        """uvicorn's signal handler: the first signal starts the drain, one after it ends the window early,
        and one while stopping does what uvicorn does (a second SIGINT stops without waiting)."""
        if self._loop is None or self.drain.phase is Phase.STOPPING:
            super().handle_exit(sig, frame)
            return
        if self._first_signal is None:
            self._first_signal = sig
        # A signal handler runs between two steps of the loop: hand the change to the loop itself.
        self._loop.call_soon_threadsafe(self.drain.signal)

    async def _stop_after_drain(self) -> None:
        await self.drain.signalled()
        log.info("draining", extra={"drain_s": self.drain.window_s, "grace_s": self.settings.stop_grace_s})
        await self.drain.window()
        if self._first_signal is None:  # drained without a signal (tests, an embedding program)
            self.should_exit = True
        else:  # as uvicorn would have at the signal: it raises it again once stopped
            super().handle_exit(self._first_signal, None)

    async def serve(self, sockets: list[socket.socket] | None = None) -> None:
        self._loop = asyncio.get_running_loop()
        drainer = asyncio.create_task(self._stop_after_drain())
        try:
            await self._serve_sockets(sockets)
        finally:
            drainer.cancel()

    async def _serve_sockets(self, sockets: list[socket.socket] | None) -> None:
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
        # Once drained: stop accepting, let in-flight requests finish for this long (longer than the longest
        # request's deadlines), then run the lifespan's close.
        timeout_graceful_shutdown=math.ceil(settings.stop_grace_s),
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
