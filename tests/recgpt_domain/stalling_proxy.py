"""A TCP proxy in front of Redis that can stop passing replies back: a Redis that received (and ran) a command
and then never answered, as a client sees a network stall or a server that froze mid-call."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import urlparse


class StallingProxy:
    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream = (upstream_host, upstream_port)
        # Once set, commands still reach Redis but its replies are dropped.
        self.stalled = False
        # When the client sends bytes containing this (e.g. b"EVALSHA"), the proxy stalls from then on.
        self.stall_on: bytes | None = None
        self.url = ""
        self._pumps: set[asyncio.Task[None]] = set()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        pumps = [
            asyncio.create_task(self._pump(reader, up_writer, replies=False)),
            asyncio.create_task(self._pump(up_reader, writer, replies=True)),
        ]
        self._pumps.update(pumps)
        await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        for pump in pumps:
            pump.cancel()
        for stream in (writer, up_writer):
            stream.close()

    async def _pump(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter, replies: bool) -> None:
        while data := await source.read(65536):
            if not replies and self.stall_on is not None and self.stall_on in data.upper():
                self.stalled = True
            if replies and self.stalled:
                continue
            sink.write(data)
            await sink.drain()

    async def close(self) -> None:
        for pump in self._pumps:
            pump.cancel()
        await asyncio.gather(*self._pumps, return_exceptions=True)


@asynccontextmanager
async def stalling_proxy(redis_url: str) -> AsyncIterator[StallingProxy]:
    parsed = urlparse(redis_url)
    proxy = StallingProxy(parsed.hostname or "127.0.0.1", parsed.port or 6379)
    server = await asyncio.start_server(proxy.handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    proxy.url = f"redis://127.0.0.1:{port}{parsed.path or '/0'}"
    try:
        yield proxy
    finally:
        server.close()
        await proxy.close()
        with contextlib.suppress(Exception):
            await server.wait_closed()
