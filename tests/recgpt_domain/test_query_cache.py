"""The query-embedding cache under threads: services encode through asyncio.to_thread."""

from __future__ import annotations

import random
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from recgpt_domain.embedder import QueryCache

CAPACITY = 4
# Three times the capacity: nearly every miss evicts what another thread is about to read.
ROWS = {f"text {n}": np.full(2, n, dtype=np.float32) for n in range(3 * CAPACITY)}


def hammer(cache: QueryCache, seed: int, calls: int) -> int:
    """Reads and fills the cache as an encoder does; returns the number of hits, each checked."""
    rng = random.Random(seed)
    texts = list(ROWS)
    hits = 0
    for _ in range(calls):
        text = rng.choice(texts)
        row = cache.get(text)
        if row is None:
            cache.put(text, ROWS[text])
        else:
            assert np.array_equal(row, ROWS[text]), text
            hits += 1
    return hits


@pytest.mark.usefixtures("fast_thread_switches")
def test_the_cache_is_safe_across_threads() -> None:
    cache = QueryCache(CAPACITY)
    threads = 8
    with ThreadPoolExecutor(threads) as pool:
        hits = sum(pool.map(hammer, [cache] * threads, range(threads), [40_000] * threads))
    assert hits > 0
    assert len(cache) <= CAPACITY


def test_the_least_recently_used_entry_goes_first() -> None:
    cache = QueryCache(2)
    cache.put("a", ROWS["text 0"])
    cache.put("b", ROWS["text 1"])
    assert cache.get("a") is not None
    cache.put("c", ROWS["text 2"])
    assert cache.get("b") is None and cache.get("a") is not None and len(cache) == 2
