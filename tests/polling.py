"""Waiting in tests on a condition instead of for a fixed time: a slow machine then waits longer, a fast one
less, and a test never asserts after a sleep that something has not happened (yet)."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable


async def until(
    condition: Callable[[], bool | Awaitable[bool]], timeout_s: float = 10.0, every_s: float = 0.02
) -> None:
    """Polls `condition` (plain or async) until it holds; TimeoutError after `timeout_s`.

    Polls: the state waited on lives in another task, process or Redis, with no event to wait on."""
    async with asyncio.timeout(timeout_s):
        while True:
            met = condition()
            if inspect.isawaitable(met):
                met = await met
            if met:
                return
            await asyncio.sleep(every_s)
