"""Moves keys written under a family's old name (before Redis Cluster hash tags) to its current name.

A Redis kept across an upgrade (the launcher's and compose's are durable) still holds feed preferences,
profiles' queues, events and API keys under the old names; the stores read only the new ones. The restore
process and the one-shot import run this at start, before anything else they do: one SCAN of the prefix,
then a RENAMENX per old key, so that a key the new code already wrote is never overwritten (that old key
is left in place and counted as a conflict, for an operator to look at). Renaming keeps everything the key
holds: a stream's consumer groups and pending entries, a key's TTL. It runs on one Redis server, where the
old names can exist; a cluster was never supported under them.
"""

from __future__ import annotations

import functools
import logging
import re
from dataclasses import dataclass

import redis

from recgpt_domain.key_families import RENAMED, family_of, literals, pattern_regex

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Migration:
    renamed: int
    # Old keys left in place because a key of the new name already exists.
    conflicts: int


@dataclass(frozen=True)
class _Rename:
    old: re.Pattern[str]
    # The new name's text around its placeholders: the old name's values go between them, in order.
    new_parts: list[str]

    def new_name(self, values: tuple[str, ...]) -> str:
        out = [self.new_parts[0]]
        for value, part in zip(values, self.new_parts[1:], strict=True):
            out += [value, part]
        return "".join(out)


@functools.cache
def _renames(prefix: str) -> tuple[_Rename, ...]:
    return tuple(_Rename(pattern_regex(old, prefix), literals(new, prefix)) for new, old in RENAMED.items())


def new_name(key: str, prefix: str) -> str | None:
    """The current name of an old-named key, or None for a key that is not old-named."""
    if family_of(key, prefix) is not None:
        return None
    for rename in _renames(prefix):
        found = rename.old.match(key)
        if found:
            return rename.new_name(found.groups())
    return None


def migrate(client: redis.Redis, prefix: str) -> Migration:
    """Renames every old-named key under `prefix` (idempotent: a second run finds nothing to do)."""
    renamed = conflicts = 0
    for raw in client.scan_iter(match=f"{_glob_escape(prefix)}:*", count=1000):
        key = raw.decode() if isinstance(raw, bytes) else str(raw)
        target = new_name(key, prefix)
        if target is None:
            continue
        if client.renamenx(key, target):
            renamed += 1
        else:
            conflicts += 1
            log.warning("key migration: the new name exists, old key left", extra={"key": key, "new": target})
    if renamed or conflicts:
        log.info("key migration done", extra={"renamed": renamed, "conflicts": conflicts})
    return Migration(renamed=renamed, conflicts=conflicts)


def _glob_escape(text: str) -> str:
    return re.sub(r"([*?\[\]\\])", r"\\\1", text)
