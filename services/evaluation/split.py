"""Leave-last-out: each chosen user's history is all but their last interaction, the target the last."""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from recgpt_domain.catalogue import Interaction, UserHistory


@dataclass(frozen=True)
class Split:
    user_id: str
    # Oldest first, as in the behaviour log.
    history: list[Interaction]
    target: Interaction

    @property
    def history_ids(self) -> list[str]:
        return [interaction.item_id for interaction in self.history]

    def recent_ids(self, limit: int | None = None) -> list[str]:
        """History item ids, most recent first, each once."""
        seen: dict[str, None] = {}
        for interaction in reversed(self.history):
            seen.setdefault(interaction.item_id, None)
        ids = list(seen)
        return ids if limit is None else ids[:limit]


def leave_last_out(history: UserHistory) -> Split | None:
    """None for a user with fewer than two interactions (nothing left to learn from)."""
    if len(history.interactions) < 2:
        return None
    *before, last = history.interactions
    return Split(user_id=history.user_id, history=list(before), target=last)


def eligible(histories: Iterable[UserHistory]) -> list[Split]:
    """Every user with at least two interactions, split, in user id order."""
    splits = (leave_last_out(history) for history in histories)
    return sorted((split for split in splits if split is not None), key=lambda split: split.user_id)


def choose(splits: Sequence[Split], count: int, seed: int) -> list[Split]:
    """`count` of the splits drawn by `seed` (all when there are fewer): same inputs, same users."""
    if count >= len(splits):
        return list(splits)
    return random.Random(seed).sample(list(splits), count)
