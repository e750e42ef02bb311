"""API keys: an id, a secret kept only as its SHA-256, scopes, a rate limit, and whether user tokens are
needed.

A key is presented as `rgk_<id>_<secret>`. The secret is 32 random bytes, so a plain SHA-256 is enough to
keep a leaked store from giving keys away (slow password hashes are for secrets people choose); the check
is one dict lookup and one hash. Keys live in Redis (`<prefix>:{auth}:keys`, one JSON record per id, with a
revision counter the gateways poll) and can also be given by file for deployments without Redis writes.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Literal

import orjson
import redis.asyncio as aioredis
from pydantic import BaseModel, ConfigDict, Field, ValidationError

KEY_PREFIX = "rgk_"
_ID_CHARS = 16


class Scope(StrEnum):
    """What a key may do; each public or internal route needs exactly one."""

    RECOMMEND = "recommend"
    EVENTS_WRITE = "events:write"
    FEED = "feed"
    REPORTS_READ = "reports:read"
    ADMIN = "admin"


# A development key has every scope but admin.
CALLER_SCOPES = frozenset(Scope) - {Scope.ADMIN}
# user_tokens: "required" for a browser or app key (each request names its user by a token the shop
# signed), "trusted" for a backend key that may act for any user.
UserTokens = Literal["required", "trusted"]
KeyId = Annotated[str, Field(pattern=r"^[0-9a-f]{16}$")]


class ApiKey(BaseModel):
    """One key as stored: never its secret, only the secret's SHA-256."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    key_id: KeyId
    name: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$")]
    secret_sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
    scopes: frozenset[Scope]
    # Sustained requests per second and the burst above it, for the whole key (all gateway replicas).
    rate_per_s: Annotated[float, Field(gt=0, le=1_000_000)] = 100.0
    burst: Annotated[int, Field(ge=1, le=1_000_000)] = 200
    user_tokens: UserTokens = "trusted"
    created_at: float = 0.0
    # Set once revoked; a revoked key is kept for the audit trail and refused.
    revoked_at: float | None = None

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None

    def matches(self, secret: str) -> bool:
        return hmac.compare_digest(_sha256(secret), self.secret_sha256)

    def public(self) -> dict[str, object]:
        """What listings show: everything but the hash."""
        return self.model_dump(mode="json", exclude={"secret_sha256"})


def new_key(
    name: str,
    scopes: frozenset[Scope],
    *,
    rate_per_s: float = 100.0,
    burst: int = 200,
    user_tokens: UserTokens = "trusted",
) -> tuple[ApiKey, str]:
    """A fresh key and the text a caller presents: shown once, never stored."""
    key_id = secrets.token_hex(_ID_CHARS // 2)
    secret = secrets.token_urlsafe(32)
    key = ApiKey(
        key_id=key_id,
        name=name,
        secret_sha256=_sha256(secret),
        scopes=scopes,
        rate_per_s=rate_per_s,
        burst=burst,
        user_tokens=user_tokens,
        created_at=time.time(),
    )
    return key, f"{KEY_PREFIX}{key_id}_{secret}"


def split_presented(presented: str) -> tuple[str, str] | None:
    """(key id, secret) of a presented key; None when it is not shaped as one."""
    if not presented.startswith(KEY_PREFIX):
        return None
    rest = presented[len(KEY_PREFIX) :]
    key_id, sep, secret = rest[:_ID_CHARS], rest[_ID_CHARS : _ID_CHARS + 1], rest[_ID_CHARS + 1 :]
    if sep != "_" or len(key_id) != _ID_CHARS or not secret or len(secret) > 128:
        return None
    if any(c not in "0123456789abcdef" for c in key_id):
        return None
    return key_id, secret


def _sha256(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class KeyFileError(ValueError):
    """A keys file that cannot be read or holds something that is not a key; the message says where."""


class KeyFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    keys: list[ApiKey]


def load_file(path: Path) -> dict[str, ApiKey]:
    """Keys given by file (JSON: {"keys": [ApiKey, ...]}), by id."""
    try:
        parsed = KeyFile.model_validate_json(path.read_bytes())
    except OSError as error:
        raise KeyFileError(f"cannot read the keys file {path}: {error.strerror}") from None
    except ValidationError as error:
        raise KeyFileError(f"{path} is not a keys file: {error}") from None
    return {key.key_id: key for key in parsed.keys}


def write_file(path: Path, keys: list[ApiKey]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(orjson.dumps(KeyFile(keys=keys).model_dump(mode="json"), option=orjson.OPT_INDENT_2))


class UnknownKey(LookupError):
    def __init__(self, key_id: str) -> None:
        super().__init__(f"no key {key_id}")
        self.key_id = key_id


class KeyStore:
    """The keys in Redis: one hash of JSON records by id, and a revision counter bumped on each change."""

    def __init__(self, client: aioredis.Redis, prefix: str) -> None:
        self.client = client
        self.keys_key = f"{prefix}:{{auth}}:keys"
        self.revision_key = f"{prefix}:{{auth}}:revision"

    async def add(self, key: ApiKey) -> None:
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.hset(self.keys_key, key.key_id, key.model_dump_json())
            pipe.incr(self.revision_key)
            await pipe.execute()

    async def revoke(self, key_id: str) -> ApiKey:
        """Marks the key revoked (kept for the audit trail); every gateway refuses it at its next poll."""
        raw = await self.client.hget(self.keys_key, key_id)
        if raw is None:
            raise UnknownKey(key_id)
        key = ApiKey.model_validate_json(raw)
        if key.revoked:
            return key
        revoked = key.model_copy(update={"revoked_at": time.time()})
        await self.add(revoked)
        return revoked

    async def revision(self) -> int:
        raw = await self.client.get(self.revision_key)
        return int(raw) if raw is not None else 0

    async def all(self) -> dict[str, ApiKey]:
        """Every key by id; a record that no longer parses is left out (and cannot authenticate)."""
        raw = await self.client.hgetall(self.keys_key)
        found: dict[str, ApiKey] = {}
        for record in raw.values():
            try:
                key = ApiKey.model_validate_json(record)
            except ValidationError:
                continue
            found[key.key_id] = key
        return found
