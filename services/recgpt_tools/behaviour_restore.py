"""Keeps a catalogue's behaviour log in Redis: loads it again whenever Redis comes back without it.

The load ends by writing the catalogue's fingerprint to a marker key in the same Lua script that swaps the
behaviour in (recgpt_domain.datasets.redis_loader), so the marker is there exactly when a load completed.
A Redis that lost its data (FLUSHDB, a lost volume, a wiped prefix) has no marker: `recgpt-import --follow`
checks for it every few seconds and loads the catalogue again, so recgpt-v1 does not quietly become the
baseline until someone re-imports. A marker of another catalogue is left alone: that one was imported on
purpose. A Redis that is down or still loading its append-only file is waited for, not reloaded.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

import redis

from recgpt_domain.catalogue import BEHAVIOUR_FILE
from recgpt_domain.datasets import redis_loader

# How often Redis is checked: the longest a wipe leaves recgpt-v1 without behaviour, beside the load itself.
DEFAULT_EVERY_S = 2.0
# The longest wait between tries while Redis cannot be reached or refuses the load (e.g. out of memory).
MAX_RETRY_S = 30.0


class Found(Enum):
    PRESENT = "the catalogue's, present"
    LOADED = "loaded again"
    OTHER_CATALOGUE = "another catalogue's: left alone"


@dataclass(frozen=True)
class Checked:
    found: Found
    interactions: int = 0
    users: int = 0
    seconds: float = 0.0


@dataclass(frozen=True)
class BehaviourRestore:
    client: redis.Redis
    prefix: str
    catalogue: Path

    def check(self) -> Checked:
        """Loads the catalogue's behaviour when Redis holds none under the prefix. Raises RedisError when
        Redis cannot say (down, loading) or refuses the load; DatasetFormatError on a broken catalogue."""
        marker = redis_loader.loaded_fingerprint(self.client, self.prefix)
        wanted = redis_loader.catalogue_fingerprint(self.catalogue)
        if marker == wanted:
            return Checked(Found.PRESENT)
        if marker is not None:
            return Checked(Found.OTHER_CATALOGUE)
        started = time.perf_counter()
        histories = redis_loader.read_histories(self.catalogue / BEHAVIOUR_FILE)
        result = redis_loader.load_histories(self.client, self.prefix, histories, wanted)
        return Checked(Found.LOADED, result.interactions, result.users, time.perf_counter() - started)


def follow(
    restore: BehaviourRestore,
    say: Callable[[str], None],
    wait: Callable[[float], bool],
    every_s: float = DEFAULT_EVERY_S,
) -> None:
    """Checks now and then every `every_s` until `wait(seconds)`, which waits, says to stop. A failure is
    said once and retried with a doubling wait."""
    wait_s = every_s
    last: str | None = None
    while True:
        try:
            checked = restore.check()
        except (redis.RedisError, OSError) as error:
            problem = f"cannot check or load the behaviour in Redis: {error}"
            if problem != last:
                say(f"{problem}; retrying")
            last, wait_s = problem, min(MAX_RETRY_S, wait_s * 2)
        else:
            wait_s = every_s
            if checked.found is Found.LOADED:
                say(
                    f"Redis held no behaviour under prefix {restore.prefix!r}: loaded "
                    f"{checked.interactions} interactions of {checked.users} users from {restore.catalogue} "
                    f"in {checked.seconds:.2f} s"
                )
                last = Found.PRESENT.value
            elif checked.found.value != last:
                last = checked.found.value
                say(f"behaviour under prefix {restore.prefix!r}: {last}")
        if wait(wait_s):
            return
