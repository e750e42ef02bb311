"""The last user vector of each user, kept in process beside the model that computed it.

A user asks again (a feed's next page, a refresh) far more often than their behaviour changes, and a
recommendation needs the same vector until it does. Each entry holds the fingerprint of the items the vector
was computed from (the tower's whole window, in order): a new interaction changes it, and the next call
recomputes. One entry per user, least recently used first out, so the size bounds the memory (about 1 KB
a user at 192 dimensions). A new artefact comes with an empty cache. Used from the event loop only.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np

from recgpt_domain.towers.learned_model import Vectors
from recgpt_serving import metrics

CACHE = "user_vector"
# hit; miss: no entry for the user; stale: an entry computed from other behaviour (then replaced).
RESULTS = ("hit", "miss", "stale")


def fingerprint(window: Sequence[int]) -> bytes:
    """The items a vector is computed from (oldest first), as 16 bytes."""
    return hashlib.blake2b(np.asarray(window, dtype=np.int64).tobytes(), digest_size=16).digest()


class UserVectorCache:
    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be positive, not {capacity}")
        self.capacity = capacity
        self._entries: OrderedDict[str, tuple[bytes, Vectors]] = OrderedDict()
        self._counted = {result: metrics.CACHE_REQUESTS.labels(CACHE, result) for result in RESULTS}

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, user_id: str, behaviour: bytes) -> Vectors | None:
        """The user's vector when it was computed from `behaviour` (a `fingerprint`), else None."""
        entry = self._entries.get(user_id)
        if entry is None:
            self._counted["miss"].inc()
            return None
        if entry[0] != behaviour:
            self._counted["stale"].inc()
            return None
        self._entries.move_to_end(user_id)
        self._counted["hit"].inc()
        return entry[1]

    def put(self, user_id: str, behaviour: bytes, vector: Vectors) -> None:
        vector.flags.writeable = False  # handed to every later caller: none may change it
        self._entries[user_id] = (behaviour, vector)
        self._entries.move_to_end(user_id)
        while len(self._entries) > self.capacity:
            self._entries.popitem(last=False)
