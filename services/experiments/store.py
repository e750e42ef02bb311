"""The config in Redis, and every change with its time, so that a report knows which config a user saw.

Keys, all under `{prefix}:experiments:`, written by nothing but this module and `events`:
- `config`    the serving config: JSON {revision, saved_at, source, config}
- `revision`  the last revision number given out
- `history`   a stream with one entry per accepted config (revision, saved_at, source, config)

A change is one Lua script (revision, config and history together), so a timeout or a dropped connection
leaves all of it or none of it; the caller sees an error and the serving config stays what it was.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, cast

import orjson
import redis.asyncio as aioredis

from experiments.config import ExperimentConfig

# KEYS: revision, config, history. ARGV: saved_at (ms), source, config JSON, only_if_absent ("1"/"0").
_Entries = list[tuple[str, dict[str, str]]]

_PUT = """
if ARGV[4] == '1' and redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
local revision = redis.call('INCR', KEYS[1])
local doc = cjson.encode({revision = revision, saved_at = tonumber(ARGV[1]), source = ARGV[2]})
redis.call('SET', KEYS[2], string.sub(doc, 1, -2) .. ',"config":' .. ARGV[3] .. '}')
redis.call('XADD', KEYS[3], '*', 'revision', revision, 'saved_at', ARGV[1],
  'source', ARGV[2], 'config', ARGV[3])
return revision
"""


@dataclass(frozen=True)
class StoredConfig:
    revision: int
    saved_at_ms: int
    source: str
    config: ExperimentConfig


class ConfigStore:
    def __init__(self, client: aioredis.Redis, prefix: str) -> None:
        self.client = client
        self.keys = [f"{prefix}:experiments:{name}" for name in ("revision", "config", "history")]
        self._put = client.register_script(_PUT)

    async def put(self, config: ExperimentConfig, source: str, *, only_if_absent: bool = False) -> int | None:
        """Stores a validated config as the serving one; its revision, or None when one existed already."""
        payload = config.model_dump_json(exclude_defaults=False)
        now_ms = int(time.time() * 1000)
        revision = await self._put(
            keys=self.keys, args=[now_ms, source[:200], payload, "1" if only_if_absent else "0"]
        )
        return int(revision) or None

    async def raw_current(self) -> str | None:
        """The serving config's document as stored (the background refresh compares it before parsing)."""
        raw = await self.client.get(self.keys[1])
        return cast(str | None, raw)

    async def current(self) -> StoredConfig | None:
        raw = await self.raw_current()
        return None if raw is None else parse_stored(raw)

    async def history(self, limit: int = 100) -> list[dict[str, Any]]:
        """The latest `limit` changes, newest first, without the configs themselves."""
        entries = cast(_Entries, await self.client.xrevrange(self.keys[2], count=limit))
        return [
            {"revision": int(f["revision"]), "saved_at_ms": int(f["saved_at"]), "source": f["source"]}
            for _, f in entries
        ]

    async def revision(self, revision: int) -> StoredConfig | None:
        """The config of one revision, from the history."""
        async for stored in self.iter_history():
            if stored.revision == revision:
                return stored
        return None

    async def iter_history(self) -> AsyncIterator[StoredConfig]:
        last = "-"
        while True:
            entries = cast(_Entries, await self.client.xrange(self.keys[2], min=last, count=200))
            entries = [e for e in entries if e[0] != last]
            if not entries:
                return
            for entry_id, f in entries:
                yield StoredConfig(
                    int(f["revision"]),
                    int(f["saved_at"]),
                    f["source"],
                    ExperimentConfig.model_validate_json(f["config"]),
                )
                last = entry_id


def parse_stored(raw: str) -> StoredConfig:
    doc = orjson.loads(raw)
    return StoredConfig(
        revision=int(doc["revision"]),
        saved_at_ms=int(doc["saved_at"]),
        source=str(doc["source"]),
        config=ExperimentConfig.model_validate(doc["config"]),
    )
