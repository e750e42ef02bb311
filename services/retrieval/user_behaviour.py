"""A user's recent items and seen set from Redis in one round trip (the collaborative route needs both)."""

from __future__ import annotations

from dataclasses import dataclass

from recgpt_domain.behaviour_store import BehaviourStore
from recgpt_domain.catalogue import Interaction


@dataclass(frozen=True)
class UserBehaviour:
    # Most recent first, each item once.
    recent_item_ids: list[str]
    seen: set[str]


def _decode(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


async def read(store: BehaviourStore, user_id: str, recent: int) -> UserBehaviour:
    """The `recent` most recent distinct items and the seen set, pipelined into one round trip."""
    # Read a few more entries than asked: repeats of one item would otherwise crowd out the others.
    async with store.client.pipeline(transaction=False) as pipe:
        pipe.lrange(store.keys.log(user_id), -recent * 2, -1)
        pipe.smembers(store.keys.seen(user_id))
        raw_log, raw_seen = await pipe.execute()
    ordered: dict[str, None] = {}
    for entry in reversed(raw_log):
        ordered.setdefault(Interaction.model_validate_json(_decode(entry)).item_id, None)
        if len(ordered) == recent:
            break
    return UserBehaviour(list(ordered), {_decode(member) for member in raw_seen})
