"""RecBot's preference memory: the structured preferences of a user, how a command changes them, and where
they live in Redis.

A command's change (what it adds, what it takes away, or a reset) is merged onto the preferences in force by
`merge`, a pure function: the newest word wins a conflict (a new positive drops the same negative and the
reverse; a new bound on a number replaces the old one), compatible preferences accumulate. The store applies
a change with an optimistic transaction (WATCH/MULTI): when another command of the same user lands in
between, the change is merged again onto the newer preferences, so no update is ever lost. Each applied change
bumps a version and is kept in a bounded history of turns.

Keys (see `key_families`): `<prefix>:feed:prefs:{<user>}` is state and has no TTL (a user's stated preferences
last until the user resets them); `<prefix>:feed:history:{<user>}` keeps the last `history_limit` turns and
expires `history_ttl_s` after the user's last command. Neither is created by a read, nor by a change that
leaves a user without stored preferences with none (a DELETE of nothing, a command that changes nothing).
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import redis.asyncio as aioredis
from pydantic import BaseModel, ConfigDict, Field
from redis.asyncio.client import Pipeline

from recgpt.common.v1 import common_pb2

Field_ = Literal["category", "brand", "item", "year", "rating"]
Op = Literal["eq", "gte", "lte"]
CATEGORICAL: frozenset[str] = frozenset({"category", "brand", "item"})
# Entries kept per list: the oldest go first.
MAX_ENTRIES = 24
# Turns kept in a user's history, and how long it outlives the user's last command.
HISTORY_LIMIT = 20
HISTORY_TTL_S = 30 * 24 * 3600.0


class Constraint(BaseModel):
    model_config = ConfigDict(frozen=True)

    field: Field_
    op: Op = "eq"
    value: str = Field(min_length=1, max_length=200)

    def same_target(self, other: Constraint) -> bool:
        """Same attribute and value, whatever the list it sits in."""
        return self.field == other.field and self.value.casefold() == other.value.casefold()


class Preferences(BaseModel):
    hard_positive: list[Constraint] = Field(default_factory=list)
    hard_negative: list[Constraint] = Field(default_factory=list)
    soft_positive: list[str] = Field(default_factory=list)
    soft_negative: list[str] = Field(default_factory=list)
    soft_positive_items: list[str] = Field(default_factory=list)
    soft_negative_items: list[str] = Field(default_factory=list)

    def is_empty(self) -> bool:
        return not any(
            (
                self.hard_positive,
                self.hard_negative,
                self.soft_positive,
                self.soft_negative,
                self.soft_positive_items,
                self.soft_negative_items,
            )
        )

    def to_pb(self) -> common_pb2.Preferences:
        return common_pb2.Preferences(
            hard_positive=[_constraint_pb(c) for c in self.hard_positive],
            hard_negative=[_constraint_pb(c) for c in self.hard_negative],
            soft_positive=self.soft_positive,
            soft_negative=self.soft_negative,
            soft_positive_items=self.soft_positive_items,
            soft_negative_items=self.soft_negative_items,
        )

    @classmethod
    def from_pb(cls, message: common_pb2.Preferences) -> Preferences:
        """Raises pydantic.ValidationError on a field or operator outside the contract."""
        return cls(
            hard_positive=[_constraint(c) for c in message.hard_positive],
            hard_negative=[_constraint(c) for c in message.hard_negative],
            soft_positive=list(message.soft_positive),
            soft_negative=list(message.soft_negative),
            soft_positive_items=list(message.soft_positive_items),
            soft_negative_items=list(message.soft_negative_items),
        )


def _constraint_pb(constraint: Constraint) -> common_pb2.Constraint:
    return common_pb2.Constraint(field=constraint.field, op=constraint.op, value=constraint.value)


def _constraint(message: common_pb2.Constraint) -> Constraint:
    return Constraint.model_validate(
        {"field": message.field, "op": message.op or "eq", "value": message.value}
    )


@dataclass(frozen=True)
class Change:
    """What one command does to the preferences in force."""

    added: Preferences
    removed: Preferences
    reset: bool = False


def _text_key(text: str) -> str:
    return " ".join(text.casefold().split())


def _without(texts: Sequence[str], drop: Sequence[str]) -> list[str]:
    dropped = {_text_key(text) for text in drop}
    return [text for text in texts if _text_key(text) not in dropped]


def _append(texts: list[str], new: Sequence[str]) -> list[str]:
    out = _without(texts, new) + list(new)
    return _dedupe(out)[-MAX_ENTRIES:]


def _dedupe(texts: Sequence[str]) -> list[str]:
    seen: set[str] = set()
    out = []
    for text in texts:
        if _text_key(text) not in seen:
            seen.add(_text_key(text))
            out.append(text)
    return out


def _drop_targets(constraints: Sequence[Constraint], drop: Sequence[Constraint]) -> list[Constraint]:
    return [c for c in constraints if not any(c.same_target(d) for d in drop)]


def _bounds_conflict(old: Constraint, new: Constraint) -> bool:
    """A new bound on a number replaces an old one of the same direction, and one that leaves no room."""
    if old.field != new.field or old.field in CATEGORICAL:
        return False
    if old.op == new.op:
        return True
    low, high = (new, old) if new.op == "gte" else (old, new)
    try:
        return float(low.value) > float(high.value)
    except ValueError:
        return True


def _add_positive(current: list[Constraint], added: Sequence[Constraint]) -> list[Constraint]:
    """A command's positives on a categorical field replace its older ones ("only X" then "only Y")."""
    fields = {c.field for c in added if c.field in CATEGORICAL}
    kept = [c for c in current if c.field not in fields]
    for new in added:
        kept = [c for c in kept if not _bounds_conflict(c, new)]
    merged = kept + [c for c in added if not any(c.same_target(k) and c.op == k.op for k in kept)]
    return list(dict.fromkeys(merged))[-MAX_ENTRIES:]


def merge(current: Preferences, change: Change) -> Preferences:
    """The preferences after a command: resets first, then removals, then additions (newest wins)."""
    base = Preferences() if change.reset else current
    removed, added = change.removed, change.added
    gone_constraints = [*removed.hard_positive, *removed.hard_negative]
    gone_texts = [*removed.soft_positive, *removed.soft_negative]
    gone_items = [*removed.soft_positive_items, *removed.soft_negative_items]
    hard_positive = _drop_targets(base.hard_positive, [*gone_constraints, *added.hard_negative])
    hard_negative = _drop_targets(
        base.hard_negative, [*gone_constraints, *[c for c in added.hard_positive if c.field in CATEGORICAL]]
    )
    new_negatives = [c for c in added.hard_negative if not any(c.same_target(h) for h in hard_negative)]
    return Preferences(
        hard_positive=_add_positive(hard_positive, added.hard_positive),
        hard_negative=(hard_negative + new_negatives)[-MAX_ENTRIES:],
        soft_positive=_append(
            _without(base.soft_positive, [*gone_texts, *added.soft_negative]), added.soft_positive
        ),
        soft_negative=_append(
            _without(base.soft_negative, [*gone_texts, *added.soft_positive]), added.soft_negative
        ),
        soft_positive_items=_append(
            _without(base.soft_positive_items, [*gone_items, *added.soft_negative_items]),
            added.soft_positive_items,
        ),
        soft_negative_items=_append(
            _without(base.soft_negative_items, [*gone_items, *added.soft_positive_items]),
            added.soft_negative_items,
        ),
    )


class Versioned(BaseModel):
    preferences: Preferences = Field(default_factory=Preferences)
    # 0 for a user who never gave a command; every stored change adds one, a reset too.
    version: int = 0
    updated_at_unix: float = 0.0


class Turn(BaseModel):
    """One entry of the bounded history: the command, what it changed, and the result."""

    version: int
    command: str
    added: Preferences
    removed: Preferences
    reset: bool
    preferences: Preferences
    at_unix: float


# KEYS: preferences, history (one user's: the same hash tag). ARGV: the document read ('' for none), the new
# document, the turn, the history's length and TTL in ms. 1 when written, 0 when the document changed.
_COMPARE_AND_SET = """
if (redis.call('GET', KEYS[1]) or '') ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2])
redis.call('LPUSH', KEYS[2], ARGV[3])
redis.call('LTRIM', KEYS[2], 0, tonumber(ARGV[4]) - 1)
redis.call('PEXPIRE', KEYS[2], ARGV[5])
return 1
"""


class PreferenceConflict(RuntimeError):
    """Too many concurrent commands of one user kept changing the preferences under this one."""


class PreferenceStore:
    """The only code that reads or writes `<prefix>:feed:prefs:{<user>}` and its history."""

    def __init__(
        self,
        client: aioredis.Redis,
        prefix: str,
        *,
        history_limit: int = HISTORY_LIMIT,
        history_ttl_s: float = HISTORY_TTL_S,
        max_attempts: int = 64,
    ) -> None:
        self.client = client
        self.prefix = prefix
        self.history_limit = history_limit
        self.history_ttl_ms = max(1, round(history_ttl_s * 1000))
        self.max_attempts = max_attempts
        self._swap = client.register_script(_COMPARE_AND_SET)

    def key(self, user_id: str) -> str:
        return f"{self.prefix}:feed:prefs:{{{user_id}}}"

    def history_key(self, user_id: str) -> str:
        return f"{self.prefix}:feed:history:{{{user_id}}}"

    async def read(self, user_id: str) -> Versioned:
        raw = await self.client.get(self.key(user_id))
        return _parse(raw)

    def queue_read(self, pipe: Pipeline, user_id: str) -> None:
        """Queues `read` on a caller's pipeline (one reply, for `parse`): one round trip with other reads."""
        pipe.get(self.key(user_id))

    @staticmethod
    def parse(raw: bytes | str | None) -> Versioned:
        return _parse(raw)

    async def history(self, user_id: str, limit: int = 20) -> list[Turn]:
        """Newest first."""
        raws = await self.client.lrange(self.history_key(user_id), 0, max(limit, 1) - 1)
        return [Turn.model_validate_json(raw) for raw in raws]

    async def apply(self, user_id: str, change: Change, command: str) -> Versioned:
        """Merges the change onto what is stored now, atomically; retried when another write interleaves.

        Optimistic: read, merge in Python, then a script writes only if the stored document is still the
        one read (a compare-and-set, rather than WATCH/MULTI, which a cluster client cannot run without
        blocking). A user with nothing stored whom the change leaves with no preferences gets nothing
        stored (version 0): made-up ids cost no memory, whether by a DELETE or by a command that changes
        nothing."""
        key, history_key = self.key(user_id), self.history_key(user_id)
        for _ in range(self.max_attempts):
            raw = await self.client.get(key)
            current = _parse(raw)
            merged = merge(current.preferences, change)
            if raw is None and merged.is_empty():
                return current
            now = time.time()
            updated = Versioned(preferences=merged, version=current.version + 1, updated_at_unix=now)
            turn = Turn(
                version=updated.version,
                command=command,
                added=change.added,
                removed=change.removed,
                reset=change.reset,
                preferences=updated.preferences,
                at_unix=now,
            )
            args: list[str | int] = [
                _text(raw) if raw is not None else "",
                updated.model_dump_json(),
                turn.model_dump_json(),
                self.history_limit,
                self.history_ttl_ms,
            ]
            if await self._swap(keys=[key, history_key], args=args):
                return updated
        raise PreferenceConflict(f"preferences changed under {self.max_attempts} attempts in a row")


def _text(raw: bytes | str) -> str:
    return raw.decode() if isinstance(raw, bytes) else raw


def _parse(raw: bytes | str | None) -> Versioned:
    if raw is None:
        return Versioned()
    return Versioned.model_validate(json.loads(raw))
