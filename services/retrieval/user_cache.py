"""Per-user answers kept in process beside the model that computed them.

A user asks again (a feed's next page, a refresh) far more often than their behaviour changes, and a
recommendation needs the same user vector, and the same ranked routes, until it does. Each entry holds the
fingerprint of everything its value was computed from (for a vector, the tower's whole window in order; for
the routes, the window, what is left out and the request's shape): a new interaction changes it, and the next
call recomputes. One entry per user, least recently used first out, so the size bounds the memory. A new
artefact comes with empty caches. Used from the event loop only.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from typing import Generic, TypeVar

import numpy as np
import numpy.typing as npt

from recgpt_serving import metrics

# The caches' names, as `recgpt_cache_requests_total` labels them.
USER_VECTOR = "user_vector"
USER_ROUTES = "user_routes"
# hit; miss: no entry for the user; stale: an entry computed from other behaviour (then replaced).
RESULTS = ("hit", "miss", "stale")

V = TypeVar("V")


def fingerprint(*parts: npt.ArrayLike | bytes) -> bytes:
    """What a value is computed from (integer sequences, in order, or bytes), as 16 bytes."""
    digest = hashlib.blake2b(digest_size=16)
    for part in parts:
        data = part if isinstance(part, bytes) else np.asarray(part, dtype=np.int64).tobytes()
        # Each part's length goes in first, so no two different lists of parts hash the same bytes.
        digest.update(len(data).to_bytes(8, "little"))
        digest.update(data)
    return digest.digest()


class UserCache(Generic[V]):
    def __init__(self, name: str, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be positive, not {capacity}")
        self.capacity = capacity
        self._entries: OrderedDict[str, tuple[bytes, V]] = OrderedDict()
        self._counted = {result: metrics.CACHE_REQUESTS.labels(name, result) for result in RESULTS}

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, user_id: str, behaviour: bytes) -> V | None:
        """The user's value when it was computed from `behaviour` (a `fingerprint`), else None."""
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

    def put(self, user_id: str, behaviour: bytes, value: V) -> None:
        """Keeps `value`, which every later caller is handed: none may change it."""
        self._entries[user_id] = (behaviour, value)
        self._entries.move_to_end(user_id)
        while len(self._entries) > self.capacity:
            self._entries.popitem(last=False)
