"""Reading a whole Redis stream in pages: what the stores that own the experiment streams offer their
readers (the report, the load test's check), so that no reader names their keys."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import cast

import redis.asyncio as aioredis


async def iter_stream(client: aioredis.Redis, key: str, page: int = 5000) -> AsyncIterator[dict[str, str]]:
    last = "-"
    while True:
        entries = cast(list[tuple[str, dict[str, str]]], await client.xrange(key, min=last, count=page))
        for entry_id, fields in entries:
            if entry_id != last:
                yield fields
        if len(entries) < page:
            return
        last = entries[-1][0]
