"""Authentication as pure ASGI middleware: a refused caller costs no body read and no route."""

from __future__ import annotations

from collections.abc import Collection

from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.auth.callers import USER_TOKEN_HEADER, Authenticator, Caller
from gateway.middleware import header, refuse
from recgpt_serving.metrics import GATEWAY_REJECTED

_USER_TOKEN = USER_TOKEN_HEADER.encode()


class AuthMiddleware:
    """Sets the request's caller (`request.state.caller`) or answers 401/429/503 with the reason.

    Paths in `open_paths` (health, the public API document) need no key.
    """

    def __init__(self, app: ASGIApp, authenticator: Authenticator, open_paths: Collection[str]) -> None:
        self.app = app
        self.authenticator = authenticator
        self.open_paths = frozenset(open_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.open_paths:
            await self.app(scope, receive, send)
            return
        outcome = await self.authenticator.authenticate(
            header(scope, b"authorization"), header(scope, _USER_TOKEN)
        )
        if not isinstance(outcome, Caller):
            refused, headers = outcome
            GATEWAY_REJECTED.labels(refused.reason).inc()
            await refuse(send, refused.status, refused.detail, headers=headers)
            return
        scope.setdefault("state", {})["caller"] = outcome
        await self.app(scope, receive, send)
