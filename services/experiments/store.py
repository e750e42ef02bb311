"""The config in Redis, and every change with its time, so that a report knows which config a user saw.

Keys, all under `{prefix}:{experiments}:` (one Redis Cluster hash tag: the script writes both), written by
nothing but this module (`recgpt_domain.key_families`):
- `config`    the serving config and its revision, one document:
              JSON {revision, origin, saved_at, source, config}
- `history`   a stream with one entry per accepted config (revision, origin, saved_at, source, config),
              trimmed to the last `history_max`

Revisions only grow and are never given out twice, even across a Redis that comes back empty: a new
revision is the highest of the stored one plus one, Redis's clock in milliseconds, and the floor the writer
brings (one above the revision it serves). The clock is what survives a wipe: a change made after the wipe
gets a revision above any served before it, so every replica takes it (they refuse to go back). Why the
clock rather than replicas writing their revision back when they find the store empty: that leaves a window
(one refresh interval) in which a change through a replica that lagged gets a number another replica has
already served, and is refused there. Redis's clock, not each gateway's, so that replicas' clocks do not
matter; the writer's floor covers a Redis whose clock went back.

`origin` says where a config comes from, so that a replica can tell a lost change from a newer one: a
change's own revision; 0 for the YAML seeded into an empty store; for a config a replica wrote back after
the store lost it, the origin of what it wrote back. A replica finding the store empty, or holding a config
of a lower origin than its own, writes its own back (`restore`) under a new revision: the operators' last
change outlives the wipe, and a gateway that seeded the YAML meanwhile follows it.

A write is one Lua script (config and history together), so a timeout or a dropped connection leaves all of
it or none of it; the caller sees an error and the serving config stays what it was.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, cast

import orjson
import redis.asyncio as aioredis
from pydantic import ValidationError

from experiments.config import ExperimentConfig

log = logging.getLogger(__name__)

# Configs kept in the history stream: the admin API and reports read older revisions from it.
HISTORY_MAX = 1000
# Characters of a source kept.
SOURCE_MAX = 200

_Entries = list[tuple[str, dict[str, str]]]

# KEYS: config, history. ARGV: mode, source, config JSON, floor, origin (restore), history max.
# Modes: `change` always writes; `seed` only into an empty store; `restore` into an empty store or over a
# config of a lower origin. Returns the revision written, or 0 when nothing was.
_WRITE = """
local mode = ARGV[1]
local stored = redis.call('GET', KEYS[1])
local last, last_origin = 0, -1
if stored then
  local doc = cjson.decode(stored)
  last = tonumber(doc.revision)
  last_origin = tonumber(doc.origin or doc.revision)
end
if mode == 'seed' and stored then return 0 end
if mode == 'restore' and last_origin >= tonumber(ARGV[5]) then return 0 end
local now = redis.call('TIME')
local now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local revision = math.max(last + 1, now_ms, tonumber(ARGV[4]))
local origin = revision
if mode == 'seed' then origin = 0 elseif mode == 'restore' then origin = tonumber(ARGV[5]) end
local doc = string.format('{"revision":%d,"origin":%d,"saved_at":%d,"source":%s,"config":%s}',
  revision, origin, now_ms, cjson.encode(ARGV[2]), ARGV[3])
redis.call('SET', KEYS[1], doc)
redis.call('XADD', KEYS[2], 'MAXLEN', ARGV[6], '*', 'revision', string.format('%d', revision),
  'origin', string.format('%d', origin), 'saved_at', string.format('%d', now_ms),
  'source', ARGV[2], 'config', ARGV[3])
return revision
"""


class Mode(enum.StrEnum):
    CHANGE = "change"
    SEED = "seed"
    RESTORE = "restore"


@dataclass(frozen=True)
class StoredConfig:
    revision: int
    saved_at_ms: int
    source: str
    config: ExperimentConfig
    # The revision of the change this config was first stored by; 0 for the YAML file's.
    origin: int = 0


class ConfigStore:
    def __init__(self, client: aioredis.Redis, prefix: str, *, history_max: int = HISTORY_MAX) -> None:
        self.client = client
        self.config_key = f"{prefix}:{{experiments}}:config"
        self.history_key = f"{prefix}:{{experiments}}:history"
        self.history_max = history_max
        self._write = client.register_script(_WRITE)

    async def put(self, config: ExperimentConfig, source: str, *, floor: int = 0) -> int:
        """Stores a validated config as the serving one, under a revision above the stored one and `floor`."""
        return await self._put(Mode.CHANGE, config, source, floor=floor, origin=0)

    async def seed(self, config: ExperimentConfig, source: str) -> int | None:
        """Stores the config only when Redis holds none; its revision, or None when one existed already."""
        return await self._put(Mode.SEED, config, source, floor=0, origin=0) or None

    async def restore(self, config: ExperimentConfig, source: str, *, origin: int, floor: int) -> int | None:
        """Writes back a config a replica serves, when the store lost it: into an empty store, or over one
        of a lower origin (the YAML a gateway seeded meanwhile, or a replica's older write-back). Its new
        revision, or None when the store holds something at least as recent."""
        return await self._put(Mode.RESTORE, config, source, floor=floor, origin=origin) or None

    async def _put(
        self, mode: Mode, config: ExperimentConfig, source: str, *, floor: int, origin: int
    ) -> int:
        payload = config.model_dump_json(exclude_defaults=False)
        args: list[str | int] = [mode, source[:SOURCE_MAX], payload, floor, origin, self.history_max]
        revision = await self._write(keys=[self.config_key, self.history_key], args=args)
        return int(revision)

    async def raw_current(self) -> str | None:
        """The serving config's document as stored (the background refresh compares it before parsing)."""
        raw = await self.client.get(self.config_key)
        return cast(str | None, raw)

    async def current(self) -> StoredConfig | None:
        raw = await self.raw_current()
        return None if raw is None else parse_stored(raw)

    async def history(self, limit: int = 100) -> list[dict[str, Any]]:
        """The latest `limit` changes, newest first, without the configs themselves."""
        entries = cast(_Entries, await self.client.xrevrange(self.history_key, count=limit))
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
            entries = cast(_Entries, await self.client.xrange(self.history_key, min=last, count=200))
            entries = [e for e in entries if e[0] != last]
            if not entries:
                return
            for entry_id, f in entries:
                last = entry_id
                try:
                    config = ExperimentConfig.model_validate_json(f["config"])
                except ValidationError as error:
                    # Kept from before a stricter config (a naive time, say): left out of phases and
                    # reports, never a failed report.
                    log.warning(
                        "experiments: a stored config revision no longer validates; skipped",
                        extra={"revision": f.get("revision"), "error": str(error)[:200]},
                    )
                    continue
                yield StoredConfig(
                    int(f["revision"]),
                    int(f["saved_at"]),
                    f["source"],
                    config,
                    int(f.get("origin", f["revision"])),
                )


def parse_stored(raw: str) -> StoredConfig:
    doc = orjson.loads(raw)
    return StoredConfig(
        revision=int(doc["revision"]),
        saved_at_ms=int(doc["saved_at"]),
        source=str(doc["source"]),
        config=ExperimentConfig.model_validate(doc["config"]),
        origin=int(doc.get("origin", doc["revision"])),
    )
