"""The caller of a request: its key, the end user its token names; and the checks routes ask of it."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request, params
from fastapi.security import HTTPBearer

from gateway.auth.key_cache import KeyCache, Refused
from gateway.auth.keys import ApiKey, Scope
from gateway.auth.rate_limit import RateLimiter, retry_after
from gateway.auth.user_tokens import TokenRefused, UserTokenVerifier
from gateway.schemas import ErrorResponse
from recgpt_serving.metrics import GATEWAY_REJECTED

log = logging.getLogger(__name__)

USER_TOKEN_HEADER = "x-user-token"
# What every keyed route may answer before its own work, for the OpenAPI document.
AUTH_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {
        "model": ErrorResponse,
        "description": "No API key, an unknown or revoked one, or a bad user token",
    },
    403: {"model": ErrorResponse, "description": "The key lacks the route's scope, or acts for another user"},
    429: {"model": ErrorResponse, "description": "The key's rate limit is exceeded: retry after Retry-After"},
    503: {
        "model": ErrorResponse,
        "description": "Overloaded or the key store unreadable: retry after Retry-After",
    },
}


@dataclass(frozen=True)
class Caller:
    """`key` None: authentication is off (RECGPT_AUTH=off) and the caller may do everything."""

    key: ApiKey | None
    # The end user a verified X-User-Token names.
    user: str | None = None

    @property
    def name(self) -> str:
        return self.key.name if self.key is not None else "anonymous"

    def has(self, scope: Scope) -> bool:
        return self.key is None or scope in self.key.scopes

    def check_users(self, user_ids: Iterable[str]) -> None:
        """Raises 401/403 unless the caller may act for each of `user_ids`."""
        for user_id in user_ids:
            if self.user is not None and self.user != user_id:
                GATEWAY_REJECTED.labels("user_mismatch").inc()
                raise HTTPException(403, "the user token is for another user than the request's user_id")
            if self.user is None and self.key is not None and self.key.user_tokens == "required":
                GATEWAY_REJECTED.labels("user_token_missing").inc()
                raise HTTPException(401, "this key acts for end users only: send X-User-Token")


ANONYMOUS = Caller(None)


class Authenticator:
    """Key check, then the key's rate limit, then the user token if one is sent: all before the body."""

    def __init__(
        self, keys: KeyCache, limiter: RateLimiter, user_tokens: UserTokenVerifier, *, enabled: bool
    ) -> None:
        self.keys = keys
        self.limiter = limiter
        self.user_tokens = user_tokens
        self.enabled = enabled

    async def authenticate(
        self, authorization: bytes | None, user_token: bytes | None
    ) -> Caller | tuple[Refused, dict[str, str]]:
        if not self.enabled:
            return ANONYMOUS
        presented = _bearer(authorization)
        if presented is None:
            return _refused(401, "missing_key", "missing API key: send Authorization: Bearer <key>")
        found = self.keys.check(presented)
        if isinstance(found, Refused):
            return found, _challenge(found)
        wait_s = self.limiter.take(found)
        if wait_s > 0:
            return Refused(429, "rate_limited", f"rate limit of key {found.name!r} exceeded"), {
                "retry-after": retry_after(wait_s)
            }
        user = None
        if user_token is not None:
            try:
                user = await self.user_tokens.subject(user_token.decode("latin-1"))
            except TokenRefused as refused:
                return Refused(401, refused.reason, refused.detail), {}
        return Caller(found, user)


def _bearer(authorization: bytes | None) -> str | None:
    if not authorization:
        return None
    scheme, _, token = authorization.decode("latin-1").partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def _refused(status: int, reason: str, detail: str) -> tuple[Refused, dict[str, str]]:
    refused = Refused(status, reason, detail)
    return refused, _challenge(refused)


def _challenge(refused: Refused) -> dict[str, str]:
    if refused.status == 401:
        return {"www-authenticate": "Bearer"}
    if refused.status == 503:
        return {"retry-after": "1"}
    return {}


# Declares the bearer scheme in the OpenAPI document; the check itself is the middleware's.
_BEARER = HTTPBearer(auto_error=False, description="An API key: rgk_<id>_<secret>")


def require(scope: Scope) -> params.Depends:
    """A route dependency: the caller (set by the middleware) must hold `scope`, else 403."""

    async def check(request: Request, _: Annotated[object, Depends(_BEARER)] = None) -> Caller:
        caller = await current_caller(request)
        if not caller.has(scope):
            GATEWAY_REJECTED.labels("wrong_scope").inc()
            raise HTTPException(403, f"key {caller.name!r} lacks the {scope.value!r} scope")
        return caller

    dependency: params.Depends = Depends(check)
    return dependency


async def current_caller(request: Request) -> Caller:
    """The caller the middleware authenticated; none (a route the middleware left open) may do nothing."""
    caller = getattr(request.state, "caller", None)
    if not isinstance(caller, Caller):
        raise HTTPException(
            401, "missing API key: send Authorization: Bearer <key>", {"WWW-Authenticate": "Bearer"}
        )
    return caller


CallerDep = Annotated[Caller, Depends(current_caller)]
