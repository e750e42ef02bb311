"""Loads a catalogue's behaviour log into Redis, where BehaviourStore reads it, all or nothing.

Every user's log and seen set are written under staging key names of this run, then one Lua script (atomic,
like MULTI/EXEC, but it checks every staging key before it changes anything) renames them over the live
keys, deletes the users of the previous import that are gone, swaps the users set and records the
catalogue's behaviour fingerprint in a marker key. Readers see the previous import or the new one, never a
mix. A failed load deletes its staging keys; a killed one is registered in a sorted set and cleaned up by
the next load once it is older than STAGING_TTL_S.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import redis
from pydantic import ValidationError

from recgpt_domain.behaviour_store import BehaviourKeys
from recgpt_domain.catalogue import BEHAVIOUR_FILE, UserHistory, fingerprint, read_manifest
from recgpt_domain.datasets.errors import DatasetFormatError

# A killed load's staging keys are deleted by the first load that starts this much later.
STAGING_TTL_S = 3600
# Interactions per pipeline round trip while staging.
BATCH_INTERACTIONS = 20_000

# KEYS: live users set, marker, staging users set, then per user: staging log, staging seen, live log,
# live seen. ARGV: fingerprint, live log key prefix, live seen key prefix.
_SWAP_SCRIPT = """
local users = (#KEYS - 3) / 4
for i = 0, users - 1 do
  for j = 4, 5 do
    local key = KEYS[j + i * 4]
    if redis.call('EXISTS', key) == 0 then return redis.error_reply('staging key missing: ' .. key) end
  end
end
if users > 0 and redis.call('EXISTS', KEYS[3]) == 0 then
  return redis.error_reply('staging key missing: ' .. KEYS[3])
end
local gone = 0
for _, uid in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  if users == 0 or redis.call('SISMEMBER', KEYS[3], uid) == 0 then
    redis.call('DEL', ARGV[2] .. uid, ARGV[3] .. uid)
    gone = gone + 1
  end
end
for i = 0, users - 1 do
  redis.call('RENAME', KEYS[4 + i * 4], KEYS[6 + i * 4])
  redis.call('RENAME', KEYS[5 + i * 4], KEYS[7 + i * 4])
end
if users > 0 then redis.call('RENAME', KEYS[3], KEYS[1]) else redis.call('DEL', KEYS[1]) end
redis.call('SET', KEYS[2], ARGV[1])
return gone
"""


def marker_key(prefix: str) -> str:
    return f"{prefix}:catalogue:fingerprint"


@dataclass(frozen=True)
class LoadResult:
    users: int
    interactions: int
    removed_users: int


def loaded_fingerprint(client: redis.Redis, prefix: str) -> str | None:
    value = client.get(marker_key(prefix))
    return None if value is None else _text(value)


def catalogue_fingerprint(catalogue: Path) -> str:
    """The behaviour fingerprint the manifest records, else the hash of behaviour.jsonl itself."""
    try:
        recorded = read_manifest(catalogue).behaviour_fingerprint
    except (OSError, ValueError, ValidationError):
        recorded = ""
    path = catalogue / BEHAVIOUR_FILE
    if not path.is_file():
        raise DatasetFormatError(path, None, "required file is missing")
    return recorded or fingerprint(path)


def load_behaviour(catalogue: Path, redis_url: str, prefix: str) -> int:
    """Replaces the behaviour under `prefix` with the catalogue's; returns the interactions loaded."""
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        result = load_histories(
            client, prefix, read_histories(catalogue / BEHAVIOUR_FILE), catalogue_fingerprint(catalogue)
        )
    finally:
        client.close()
    return result.interactions


def read_histories(path: Path) -> Iterator[UserHistory]:
    """The histories of behaviour.jsonl; a bad line or a user listed twice is a DatasetFormatError."""
    if not path.is_file():
        raise DatasetFormatError(path, None, "required file is missing")
    users: set[str] = set()
    with path.open(encoding="utf-8") as handle:
        for line_no, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                history = UserHistory.model_validate_json(line)
            except ValidationError as error:
                reason = error.errors()[0]["msg"] if error.errors() else str(error)
                raise DatasetFormatError(path, line_no, f"not a user history: {reason}") from None
            if history.user_id in users:
                raise DatasetFormatError(path, line_no, f"user {history.user_id!r} appears twice")
            users.add(history.user_id)
            yield history


def load_histories(
    client: redis.Redis,
    prefix: str,
    histories: Iterable[UserHistory],
    fingerprint: str,
    batch_interactions: int = BATCH_INTERACTIONS,
) -> LoadResult:
    """Stages every history, then swaps them in at once; on any failure the staging keys are deleted."""
    _clean_stale_runs(client, prefix)
    token = uuid.uuid4().hex
    staging_prefix = f"{prefix}:staging:{token}"
    client.zadd(_runs_key(prefix), {token: time.time()})
    try:
        staging = BehaviourKeys(staging_prefix)
        users, interactions = _stage(client, staging, histories, batch_interactions)
        removed = _swap(client, staging, BehaviourKeys(prefix), users, fingerprint)
    except BaseException:
        _delete_matching(client, f"{staging_prefix}:*")
        raise
    finally:
        client.zrem(_runs_key(prefix), token)
    return LoadResult(users=len(users), interactions=interactions, removed_users=removed)


def _runs_key(prefix: str) -> str:
    return f"{prefix}:staging-runs"


def _clean_stale_runs(client: redis.Redis, prefix: str) -> None:
    stale = client.zrangebyscore(_runs_key(prefix), "-inf", time.time() - STAGING_TTL_S)
    for token in (_text(member) for member in stale):
        _delete_matching(client, f"{prefix}:staging:{token}:*")
        client.zrem(_runs_key(prefix), token)


def _stage(
    client: redis.Redis, staging: BehaviourKeys, histories: Iterable[UserHistory], batch: int
) -> tuple[list[str], int]:
    users: list[str] = []
    total = 0
    pending = 0
    pipe = client.pipeline(transaction=False)
    for history in histories:
        if not history.interactions:
            continue
        uid = history.user_id
        pipe.rpush(staging.log(uid), *(i.model_dump_json() for i in history.interactions))
        pipe.sadd(staging.seen(uid), *{i.item_id for i in history.interactions})
        users.append(uid)
        total += len(history.interactions)
        pending += len(history.interactions)
        if pending >= batch:
            pipe.execute()
            pending = 0
    for start in range(0, len(users), 10_000):
        pipe.sadd(staging.users(), *users[start : start + 10_000])
    pipe.execute()
    return users, total


def _swap(
    client: redis.Redis,
    staging: BehaviourKeys,
    live: BehaviourKeys,
    users: list[str],
    fingerprint: str,
) -> int:
    """Runs the swap script; returns how many users of the previous import were removed."""
    log_prefix, seen_prefix = live.log(""), live.seen("")
    if live.log("u") != log_prefix + "u" or live.seen("u") != seen_prefix + "u":
        raise RuntimeError("BehaviourKeys no longer puts the user id last; update the swap script")
    keys = [live.users(), marker_key(live.prefix), staging.users()]
    for uid in users:
        keys += [staging.log(uid), staging.seen(uid), live.log(uid), live.seen(uid)]
    script = client.register_script(_SWAP_SCRIPT)
    removed = script(keys=keys, args=[fingerprint, log_prefix, seen_prefix])
    return int(removed)


def _delete_matching(client: redis.Redis, pattern: str) -> None:
    batch: list[str] = []
    for key in client.scan_iter(match=pattern, count=1000):
        batch.append(_text(key))
        if len(batch) >= 1000:
            client.delete(*batch)
            batch.clear()
    if batch:
        client.delete(*batch)


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
