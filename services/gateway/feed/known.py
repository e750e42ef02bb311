"""The preferences this gateway last saw per user, for when Redis cannot give them in time.

A page that ignores a user's hard constraints is worse than a slightly stale page that honours them: when the
preference read fails, the last version this process read or wrote stands in (bounded, newest version wins).
"""

from __future__ import annotations

from collections import OrderedDict

from recgpt_domain.preferences import Versioned


class KnownPreferences:
    def __init__(self, max_users: int) -> None:
        self.max_users = max_users
        self._known: OrderedDict[str, Versioned] = OrderedDict()

    def remember(self, user_id: str, current: Versioned) -> None:
        held = self._known.get(user_id)
        if held is not None and held.version > current.version:
            return
        self._known[user_id] = current
        self._known.move_to_end(user_id)
        while len(self._known) > self.max_users:
            self._known.popitem(last=False)

    def get(self, user_id: str) -> Versioned | None:
        return self._known.get(user_id)
