"""Per-key token buckets, held in each gateway process.

Each replica enforces its share of a key's limit (`rate / replicas`, burst likewise), set by
`RECGPT_GATEWAY_REPLICAS`. Counting in process costs nothing on the request path and keeps working when
Redis does not; the price is that a caller whose traffic the load balancer spreads unevenly gets somewhat
less than its limit. A shared counter in Redis would be exact but adds a round trip to every request.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from gateway.auth.keys import ApiKey


@dataclass
class _Bucket:
    tokens: float
    updated: float
    rate: float
    burst: float


class RateLimiter:
    def __init__(self, replicas: int = 1, clock: Callable[[], float] = time.monotonic) -> None:
        self.replicas = max(1, replicas)
        self.clock = clock
        self._buckets: dict[str, _Bucket] = {}

    def take(self, key: ApiKey) -> float:
        """0 when the request may go on, else the seconds until the key has a token again."""
        rate = key.rate_per_s / self.replicas
        burst = max(1.0, key.burst / self.replicas)
        now = self.clock()
        bucket = self._buckets.get(key.key_id)
        if bucket is None or bucket.rate != rate or bucket.burst != burst:
            # A new key, or its limit changed: it starts full.
            bucket = self._buckets[key.key_id] = _Bucket(burst, now, rate, burst)
        bucket.tokens = min(burst, bucket.tokens + (now - bucket.updated) * rate)
        bucket.updated = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return 0.0
        return (1.0 - bucket.tokens) / rate


def retry_after(seconds: float) -> str:
    """The Retry-After header: whole seconds, at least 1."""
    return str(max(1, math.ceil(seconds)))
