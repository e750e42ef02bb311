"""Loads a catalogue's behaviour log into Redis, where BehaviourStore reads it, all or nothing.

Every user's log and seen set are written under staging key names of this run, then a Lua script (atomic,
like MULTI/EXEC, but it checks every staging key before it changes anything) renames them over the live
keys, deletes the users of the previous import that are gone, swaps the users set and records the
catalogue's behaviour fingerprint in a marker key. On one Redis server that is one script: readers see the
previous import or the new one, never a mix. On a Redis Cluster a script may only touch one slot, so the
swap runs one script per slot (each user's keys share the user's hash tag; the users set and the marker
share `{catalogue}`), after checking every staging key first, with the users set and marker last: for the
seconds the swap takes, readers may see some users of the new import and some of the old. A failed load
deletes its staging keys; a killed one is registered in a sorted set and cleaned up by the next load once
it is older than STAGING_TTL_S.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import redis
from pydantic import ValidationError
from redis.crc import key_slot

from recgpt_domain.behaviour_store import BehaviourKeys
from recgpt_domain.catalogue import BEHAVIOUR_FILE, UserHistory, fingerprint, read_manifest
from recgpt_domain.datasets.errors import DatasetFormatError
from recgpt_domain.redis_connection import connect_sync

# A killed load's staging keys are deleted by the first load that starts this much later.
STAGING_TTL_S = 3600
# Interactions per pipeline round trip while staging.
BATCH_INTERACTIONS = 20_000

# KEYS: when ARGV[2] is '1', first the live users set, the marker and the staging users set; then ARGV[3]
# pairs (staging key, live key) to rename; then the live keys of gone users to delete.
# ARGV: fingerprint, whether to swap the users set and marker, pairs, users in the new import.
_SWAP_SCRIPT = """
local base = 0
if ARGV[2] == '1' then base = 3 end
local pairs = tonumber(ARGV[3])
for i = 1, pairs do
  local key = KEYS[base + 2 * i - 1]
  if redis.call('EXISTS', key) == 0 then return redis.error_reply('staging key missing: ' .. key) end
end
if base == 3 and tonumber(ARGV[4]) > 0 and redis.call('EXISTS', KEYS[3]) == 0 then
  return redis.error_reply('staging key missing: ' .. KEYS[3])
end
for i = 1, pairs do redis.call('RENAME', KEYS[base + 2 * i - 1], KEYS[base + 2 * i]) end
for i = base + 2 * pairs + 1, #KEYS do redis.call('DEL', KEYS[i]) end
if base == 3 then
  if tonumber(ARGV[4]) > 0 then redis.call('RENAME', KEYS[3], KEYS[1]) else redis.call('DEL', KEYS[1]) end
  redis.call('SET', KEYS[2], ARGV[1])
end
return #KEYS - base - 2 * pairs
"""


def marker_key(prefix: str) -> str:
    return f"{prefix}:{{catalogue}}:fingerprint"


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
    client = connect_sync(redis_url)
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
    """Runs the swap script (once per slot on a cluster); returns how many users of the previous import
    were removed."""
    previous = {_text(member) for member in client.sscan_iter(live.users(), count=1000)}
    gone = sorted(previous - set(users))
    pairs = [(staging.log(uid), live.log(uid)) for uid in users]
    pairs += [(staging.seen(uid), live.seen(uid)) for uid in users]
    doomed = [key for uid in gone for key in (live.log(uid), live.seen(uid))]
    final = [live.users(), marker_key(live.prefix), staging.users()]
    script = client.register_script(_SWAP_SCRIPT)
    if not isinstance(client, redis.RedisCluster):
        groups = [(pairs, doomed)]
    else:
        _check_staged(client, [source for source, _ in pairs])
        groups = _by_slot(pairs, doomed, last=key_slot(final[0].encode()))
    for number, (group_pairs, group_doomed) in enumerate(groups, start=1):
        swap_users = number == len(groups)
        keys = [*final] if swap_users else []
        keys += [key for pair in group_pairs for key in pair] + group_doomed
        args = [fingerprint, "1" if swap_users else "0", len(group_pairs), len(users)]
        script(keys=keys, args=args)
    return len(gone)


def _check_staged(client: redis.Redis, keys: list[str]) -> None:
    """Every staging key exists, before a cluster's swap changes a first slot."""
    pipe = client.pipeline(transaction=False)
    for key in keys:
        pipe.exists(key)
    missing = [key for key, found in zip(keys, pipe.execute(), strict=True) if not found]
    if missing:
        raise redis.ResponseError(f"staging key missing: {missing[0]}")


Pair = tuple[str, str]


def _by_slot(pairs: list[Pair], doomed: list[str], last: int) -> list[tuple[list[Pair], list[str]]]:
    """The renames and deletes grouped by cluster slot, the group of slot `last` (the users set's) last."""
    by_slot: dict[int, tuple[list[Pair], list[str]]] = {}
    for pair in pairs:
        by_slot.setdefault(key_slot(pair[1].encode()), ([], []))[0].append(pair)
    for key in doomed:
        by_slot.setdefault(key_slot(key.encode()), ([], []))[1].append(key)
    final = by_slot.pop(last, ([], []))
    return [*by_slot.values(), final]


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
