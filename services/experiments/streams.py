"""Reading a Redis stream in pages: what the stores that own the experiment streams offer their readers
(the report, the ledger, the load test's check), so that no reader names their keys."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import cast

import redis.asyncio as aioredis

PAGE = 5000


async def iter_entries(
    client: aioredis.Redis,
    key: str,
    *,
    after: str = "-",
    upto: str = "+",
    limit: int | None = None,
    inclusive: bool = False,
) -> AsyncIterator[tuple[str, dict[str, str]]]:
    """(id, fields) of the entries after the id `after` (from it, `inclusive`; "-": the stream's start) up to
    `upto`, oldest first, at most `limit` of them (None: all)."""
    low = after if inclusive or after == "-" else f"({after}"
    left = limit
    while left is None or left > 0:
        count = PAGE if left is None else min(PAGE, left)
        found = await client.xrange(key, min=low, max=upto, count=count)
        entries = cast(list[tuple[str, dict[str, str]]], found)
        for entry in entries:
            yield entry
        if left is not None:
            left -= len(entries)
        if len(entries) < count:
            return
        low = f"({entries[-1][0]}"


async def iter_stream(client: aioredis.Redis, key: str) -> AsyncIterator[dict[str, str]]:
    """The fields of every entry, oldest first."""
    async for _, fields in iter_entries(client, key):
        yield fields
