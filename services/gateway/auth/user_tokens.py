"""End-user tokens (`X-User-Token`): JWTs the shop signs, checked with PyJWT.

HS256 with a shared secret, or RS256/ES256 with the shop's public keys from a JWKS URL; `exp`, `aud`,
`iss` and `sub` are required, with a clock-skew leeway. Each kind of key is tried only with its own
algorithms, so a token signed HS256 with a public key as the secret (the HS/RS confusion) and `alg: none`
are refused. The JWKS is fetched in the background and on an unknown `kid` (at most once per
`jwks_min_refetch_s`), never per request.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

import httpx
import jwt

log = logging.getLogger(__name__)

HMAC_ALGORITHMS = ("HS256",)
PUBLIC_KEY_ALGORITHMS = ("RS256", "ES256")
REQUIRED_CLAIMS = ["exp", "sub", "aud", "iss"]
# Longer tokens are refused unread (a header of 1 MB stays a 4xx, not a parse).
MAX_TOKEN_CHARS = 8192


class TokenRefused(Exception):
    """`reason`: a bounded metric label; `detail`: what the caller reads."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class UserTokenSettings:
    secret: str
    jwks_url: str
    audience: str
    issuer: str
    leeway_s: float
    jwks_refresh_s: float = 300.0
    jwks_min_refetch_s: float = 30.0
    jwks_timeout_s: float = 2.0

    @property
    def configured(self) -> bool:
        return bool(self.secret or self.jwks_url)


class UserTokenVerifier:
    def __init__(self, settings: UserTokenSettings) -> None:
        self.settings = settings
        self._jwks: dict[str, jwt.PyJWK] = {}
        self._fetched_at = 0.0
        self._fetch_lock = asyncio.Lock()

    @property
    def configured(self) -> bool:
        return self.settings.configured

    async def subject(self, token: str) -> str:
        """The token's `sub` once its signature and claims hold; raises TokenRefused saying why not."""
        if not self.configured:
            raise TokenRefused(
                "user_token_unconfigured", "this gateway is not configured to check user tokens"
            )
        if len(token) > MAX_TOKEN_CHARS:
            raise TokenRefused("user_token_invalid", "user token too long")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError:
            raise TokenRefused("user_token_invalid", "user token is not a JWT") from None
        algorithm = header.get("alg")
        if algorithm in HMAC_ALGORITHMS and self.settings.secret:
            key: object = self.settings.secret
            algorithms = list(HMAC_ALGORITHMS)
        elif algorithm in PUBLIC_KEY_ALGORITHMS and self.settings.jwks_url:
            key = await self._public_key(header.get("kid"))
            algorithms = list(PUBLIC_KEY_ALGORITHMS)
        else:
            raise TokenRefused(
                "user_token_invalid", f"user token algorithm {str(algorithm)[:16]!r} is not accepted"
            )
        try:
            claims = jwt.decode(
                token,
                key,  # type: ignore[arg-type]
                algorithms=algorithms,
                audience=self.settings.audience,
                issuer=self.settings.issuer,
                leeway=self.settings.leeway_s,
                options={"require": REQUIRED_CLAIMS},
            )
        except jwt.ExpiredSignatureError:
            raise TokenRefused("user_token_expired", "user token expired") from None
        except jwt.InvalidAudienceError:
            raise TokenRefused("user_token_invalid", "user token is for another audience") from None
        except jwt.InvalidIssuerError:
            raise TokenRefused("user_token_invalid", "user token from another issuer") from None
        except jwt.InvalidSignatureError:
            raise TokenRefused("user_token_invalid", "user token signature does not verify") from None
        except jwt.InvalidTokenError as error:
            raise TokenRefused("user_token_invalid", f"invalid user token: {str(error)[:120]}") from None
        subject = claims.get("sub")
        if not isinstance(subject, str) or not subject:
            raise TokenRefused("user_token_invalid", "user token has no subject")
        return subject

    async def _public_key(self, kid: object) -> jwt.PyJWK:
        if not isinstance(kid, str) or not kid:
            raise TokenRefused("user_token_invalid", "user token names no key (kid)")
        stale = time.monotonic() - self._fetched_at > self.settings.jwks_refresh_s
        if kid not in self._jwks or stale:
            await self._fetch(force=stale)
        found = self._jwks.get(kid)
        if found is None:
            raise TokenRefused("user_token_invalid", "user token signed by an unknown key")
        return found

    async def _fetch(self, *, force: bool) -> None:
        async with self._fetch_lock:
            since = time.monotonic() - self._fetched_at
            if since < self.settings.jwks_min_refetch_s and not force:
                return
            try:
                async with httpx.AsyncClient(timeout=self.settings.jwks_timeout_s) as client:
                    answer = await client.get(self.settings.jwks_url)
                    answer.raise_for_status()
                keys = jwt.PyJWKSet.from_dict(answer.json()).keys
            except (httpx.HTTPError, ValueError, jwt.PyJWTError) as error:
                log.warning("cannot fetch the user tokens' JWKS", extra={"error": str(error)[:200]})
                self._fetched_at = time.monotonic()
                return
            self._jwks = {key.key_id: key for key in keys if key.key_id}
            self._fetched_at = time.monotonic()


def mint(secret: str, user_id: str, *, audience: str, issuer: str, ttl_s: float = 3600.0) -> str:
    """A development token (HS256), as a shop's login would sign one."""
    now = int(time.time())
    claims = {"sub": user_id, "aud": audience, "iss": issuer, "iat": now, "exp": now + int(ttl_s)}
    return jwt.encode(claims, secret, algorithm="HS256")
