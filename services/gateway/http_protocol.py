"""uvicorn's httptools protocol with two limits it lacks: the size of a request's headers and the time a
client may take to send them. Without them a header of 1 MB is parsed and served, and a client that sends
half a request line holds its connection for ever (slowloris). Both answer a clear 4xx and close.
"""

from __future__ import annotations

import asyncio

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from recgpt_serving.metrics import GATEWAY_REJECTED

# After a refusal, what the client still sends is read and dropped, up to this much and this long, so
# that it reads the answer instead of a connection reset.
_DRAIN_BYTES = 2 << 20
_DRAIN_S = 1.0


def guarded_protocol(max_header_bytes: int, header_timeout_s: float) -> type[HttpToolsProtocol]:
    """The protocol class for uvicorn.Config(http=...), with these limits."""

    class GuardedHttpToolsProtocol(HttpToolsProtocol):
        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._awaiting_headers = True
            self._header_bytes = 0
            self._header_timer: asyncio.TimerHandle | None = None
            self._drained: int | None = None

        def data_received(self, data: bytes) -> None:
            if self._drained is not None:
                self._drained += len(data)
                if self._drained > _DRAIN_BYTES:
                    self.transport.close()
                return
            if self._awaiting_headers:
                self._header_bytes += len(data)
                if self._header_timer is None:
                    self._header_timer = self.loop.call_later(header_timeout_s, self._headers_too_slow)
            super().data_received(data)
            # Still no end of headers past the limit: refused before any more is buffered.
            if self._awaiting_headers and self._header_bytes > max_header_bytes:
                self._refuse(
                    431, "headers_too_large", f"request headers larger than {max_header_bytes} bytes"
                )

        def on_headers_complete(self) -> None:
            self._awaiting_headers = False
            self._cancel_header_timer()
            super().on_headers_complete()

        def on_message_complete(self) -> None:
            super().on_message_complete()
            # The next bytes on this connection are the next request's headers.
            self._awaiting_headers = True
            self._header_bytes = 0

        def connection_lost(self, exc: Exception | None) -> None:
            self._cancel_header_timer()
            super().connection_lost(exc)

        def _headers_too_slow(self) -> None:
            self._header_timer = None
            if self._awaiting_headers and self._header_bytes:
                self._refuse(
                    408, "slow_headers", f"request headers not received within {header_timeout_s:g} s"
                )

        def _cancel_header_timer(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def _refuse(self, status: int, reason: str, detail: str) -> None:
            if self.transport.is_closing():
                return
            GATEWAY_REJECTED.labels(reason).inc()
            body = ('{"reason":"' + detail + '"}').encode()
            phrase = b"Request Header Fields Too Large" if status == 431 else b"Request Timeout"
            self.transport.write(
                b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\n"
                b"connection: close\r\n\r\n%s" % (status, phrase, len(body), body)
            )
            self._awaiting_headers = False
            self._cancel_header_timer()
            self._drained = 0
            self.loop.call_later(_DRAIN_S, self.transport.close)

    return GuardedHttpToolsProtocol
