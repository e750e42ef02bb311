"""The keys a gateway checks against: held in process, refreshed from Redis when its revision moves.

A check is a dict lookup and one SHA-256, never a Redis round trip. The revision is polled every
`refresh_s` (one GET), so a key revoked on any replica is refused everywhere within that (plus the poll's
deadline); while Redis is away the last keys read keep serving, and a gateway that never read them
answers 503 (it cannot tell a good key from a bad one).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass

from redis.exceptions import RedisError

from gateway.auth.keys import ApiKey, KeyStore, split_presented
from recgpt_serving.metrics import AUTH_KEY_REFRESHES, AUTH_KEYS_HELD

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Refused:
    """Why a presented key was refused: `reason` is a bounded metric label, `detail` what the caller reads."""

    status: int
    reason: str
    detail: str


MALFORMED = Refused(401, "malformed_key", "the bearer token is not an API key (rgk_<id>_<secret>)")
UNKNOWN = Refused(401, "unknown_key", "unknown API key")
REVOKED = Refused(401, "revoked_key", "this API key was revoked")
NOT_LOADED = Refused(503, "key_store_unavailable", "the key store cannot be read yet: retry")


class KeyCache:
    def __init__(
        self,
        file_keys: Mapping[str, ApiKey],
        *,
        uses_store: bool,
        refresh_s: float,
        timeout_s: float,
    ) -> None:
        self.store: KeyStore | None = None
        self.file_keys = dict(file_keys)
        self.refresh_s = refresh_s
        self.timeout_s = timeout_s
        self._keys: dict[str, ApiKey] = dict(file_keys)
        self._revision: int | None = None
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        # Without a store the file is all there is: loaded from the start.
        self.loaded = not uses_store
        AUTH_KEYS_HELD.set(len(self._keys))

    def check(self, presented: str) -> ApiKey | Refused:
        parts = split_presented(presented)
        if parts is None:
            return MALFORMED
        key_id, secret = parts
        key = self._keys.get(key_id)
        if key is None:
            return UNKNOWN if self.loaded else NOT_LOADED
        if not key.matches(secret):
            return UNKNOWN
        if key.revoked:
            return REVOKED
        return key

    async def start(self, store: KeyStore | None) -> None:
        """Reads the keys once (a failure is retried by the loop), then polls in the background."""
        self.store = store
        if store is None:
            self.loaded = True
            return
        await self.refresh()
        self._task = asyncio.create_task(self._poll(), name="api-key-refresh")

    async def close(self) -> None:
        self._closed = True
        if self._task is not None:
            self._task.cancel()
            # Bounded: a poll stuck in a Redis call that ignores the cancel must not hold the shutdown.
            await asyncio.wait({self._task}, timeout=self.timeout_s + 1.0)

    async def refresh(self) -> bool:
        """Re-reads the keys when the revision moved; False when Redis could not be read."""
        assert self.store is not None
        try:
            async with asyncio.timeout(self.timeout_s):
                revision = await self.store.revision()
                if revision == self._revision:
                    AUTH_KEY_REFRESHES.labels("unchanged").inc()
                    return True
                stored = await self.store.all()
        except (RedisError, TimeoutError, OSError) as error:
            AUTH_KEY_REFRESHES.labels("failed").inc()
            log.warning(
                "cannot read the API keys: the last ones read keep serving", extra={"error": str(error)}
            )
            return False
        # File keys win over stored ones of the same id: a file is what the deployment declared.
        self._keys = {**stored, **self.file_keys}
        self._revision = revision
        self.loaded = True
        AUTH_KEYS_HELD.set(len(self._keys))
        AUTH_KEY_REFRESHES.labels("changed").inc()
        return True

    async def _poll(self) -> None:
        # The flag as well as the cancel: a cancel that lands inside a Redis call can come out of it as a
        # RedisError, which `refresh` takes for a failed read and carries on.
        while not self._closed:
            await asyncio.sleep(self.refresh_s)
            await self.refresh()
