"""The local platform's credentials (`<var>/auth/`) and the keys in its Redis.

`recgpt-stack up` makes a development key and an admin key once (`dev-keys.json`: the presented keys and
their records) and a user-token secret (`user-token-secret`), both readable by their owner only, and keeps
them across restarts so that scripts keep working; at every start it stores the records (secrets hashed) in
the stack's Redis, where the gateway reads them. `recgpt-stack keys` creates, lists and revokes keys there.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import tempfile
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit, urlunsplit

from pydantic import BaseModel, ConfigDict, ValidationError
from redis.exceptions import RedisError

from gateway.auth.keys import CALLER_SCOPES, ApiKey, KeyStore, Scope, UnknownKey, UserTokens, new_key
from recgpt_domain.redis_connection import connect

DEV_KEYS_FILE = "dev-keys.json"
USER_TOKEN_SECRET_FILE = "user-token-secret"
# The development key serves benches and load tests: its limit is far above what one machine sends, so that
# no measurement is shaped by the rate limiter unless a test sets a limit of its own.
DEV_RATE_PER_S = 1000.0
DEV_BURST = 2000
# Every Redis call of the CLI and the launcher is bounded: a stopped Redis is an error line, not a hang.
_REDIS_TIMEOUT_S = 5.0

T = TypeVar("T")


class AuthError(RuntimeError):
    """A credentials file that cannot be read or written, or a key store that cannot be reached."""


class IssuedKey(BaseModel):
    """A key as its owner keeps it: the text presented to the gateway and the record stored in Redis."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    presented: str
    record: ApiKey


class DevKeys(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    dev: IssuedKey
    admin: IssuedKey

    def records(self) -> list[ApiKey]:
        return [self.dev.record, self.admin.record]


def issue() -> DevKeys:
    """A development key (every scope but admin, a bench-sized rate) and an admin key (every scope)."""
    dev = new_key("dev", CALLER_SCOPES, rate_per_s=DEV_RATE_PER_S, burst=DEV_BURST)
    admin = new_key("admin", frozenset(Scope))
    return DevKeys(
        dev=IssuedKey(record=dev[0], presented=dev[1]),
        admin=IssuedKey(record=admin[0], presented=admin[1]),
    )


def load_keys(path: Path) -> DevKeys:
    try:
        return DevKeys.model_validate_json(path.read_bytes())
    except FileNotFoundError:
        raise AuthError(f"no development keys in {path}: `make run` (recgpt-stack up) makes them") from None
    except OSError as error:
        raise AuthError(f"cannot read {path}: {error.strerror}") from None
    except ValidationError as error:
        problem = f"{path} is not a development keys file; remove it to make new keys ({error})"
        raise AuthError(problem) from None


def load_or_create_keys(path: Path) -> DevKeys:
    """The keys of `path`, made and written (mode 0600) when it does not exist yet."""
    if path.exists():
        return load_keys(path)
    keys = issue()
    write_private(path, keys.model_dump_json(indent=2) + "\n")
    return keys


def load_or_create_secret(path: Path) -> str:
    """The user-token secret of `path`, made (random, mode 0600) when it does not exist yet."""
    if not path.exists():
        write_private(path, secrets.token_urlsafe(32) + "\n")
    return load_secret(path)


def load_secret(path: Path) -> str:
    try:
        secret = path.read_text().strip()
    except FileNotFoundError:
        raise AuthError(f"no user-token secret in {path}: `make run` (recgpt-stack up) makes it") from None
    except OSError as error:
        raise AuthError(f"cannot read {path}: {error.strerror}") from None
    if not secret:
        raise AuthError(f"{path} is empty; remove it to make a new secret")
    return secret


def write_private(path: Path, text: str) -> None:
    """Writes `path` readable by its owner only (0600, never briefly wider), replacing it in one step."""

    def write(temporary: Path) -> None:
        temporary.write_text(text)

    write_private_with(path, write)


def write_private_with(path: Path, write: Callable[[Path], None]) -> None:
    """`write` fills a fresh file of mode 0600 beside `path`, which then replaces `path` in one step: a
    reader sees the whole file or none, and no one else can read it in between."""
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        # mkstemp creates the file 0600; writing into it and the rename keep that mode.
        handle, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        os.close(handle)
        temporary = Path(name)
        try:
            write(temporary)
            os.replace(temporary, path)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
    except OSError as error:
        raise AuthError(f"cannot write {path}: {error.strerror}") from None


# -- the keys in the stack's Redis ----------------------------------------------------------------


def redacted(redis_url: str) -> str:
    """The URL without its password, for messages."""
    parts = urlsplit(redis_url)
    if parts.password is None:
        return redis_url
    user = f"{parts.username}:***@" if parts.username else "***@"
    host = parts.hostname or ""
    netloc = f"{user}{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def _with_store(redis_url: str, prefix: str, work: Callable[[KeyStore], Awaitable[T]]) -> T:
    async def run() -> T:
        client = connect(redis_url, socket_timeout=_REDIS_TIMEOUT_S, socket_connect_timeout=_REDIS_TIMEOUT_S)
        try:
            return await work(KeyStore(client, prefix))
        finally:
            await client.aclose()

    try:
        return asyncio.run(run())
    except (RedisError, OSError) as error:
        raise AuthError(f"cannot reach the key store in Redis at {redacted(redis_url)}: {error}") from None


def store_missing(redis_url: str, prefix: str, keys: Sequence[ApiKey]) -> list[ApiKey]:
    """Stores each key Redis does not hold yet; returns those stored. One it holds is left as it is, so a
    key revoked in a Redis that outlives the stack stays revoked."""

    async def work(store: KeyStore) -> list[ApiKey]:
        held = await store.all()
        missing = [key for key in keys if key.key_id not in held]
        for key in missing:
            await store.add(key)
        return missing

    return _with_store(redis_url, prefix, work)


def create(
    redis_url: str,
    prefix: str,
    name: str,
    scopes: frozenset[Scope],
    *,
    rate_per_s: float,
    burst: int,
    user_tokens: UserTokens,
) -> tuple[ApiKey, str]:
    """A new key stored in Redis, and the text its caller presents (shown once, kept nowhere)."""
    try:
        key, presented = new_key(name, scopes, rate_per_s=rate_per_s, burst=burst, user_tokens=user_tokens)
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())
        raise AuthError(f"invalid key: {problems}") from None

    async def work(store: KeyStore) -> None:
        await store.add(key)

    _with_store(redis_url, prefix, work)
    return key, presented


def listed(redis_url: str, prefix: str) -> list[ApiKey]:
    """Every key in Redis, oldest first."""

    async def work(store: KeyStore) -> list[ApiKey]:
        return sorted((await store.all()).values(), key=lambda key: (key.created_at, key.key_id))

    return _with_store(redis_url, prefix, work)


def revoke(redis_url: str, prefix: str, key_id: str) -> ApiKey:
    async def work(store: KeyStore) -> ApiKey:
        return await store.revoke(key_id)

    try:
        return _with_store(redis_url, prefix, work)
    except UnknownKey:
        raise AuthError(f"no key {key_id!r} in the key store; `recgpt-stack keys list` shows them") from None
