"""The exposure buffer: records that arrive while a batch is being written are kept, even when they evict
part of that batch from a full buffer; every record lost unwritten is counted once."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, cast

import redis.asyncio as aioredis
from prometheus_client import REGISTRY

from experiments.exposures import Exposure, ExposureLog


def exposure(user: str) -> Exposure:
    return Exposure(user, "r", "exp-a:control", 1, "baseline", 200, 5.0, False, False, False, False)


class GatedRedis:
    """Stands in for Redis: each append waits for the test to open the gate, then succeeds or fails."""

    def __init__(self) -> None:
        self.written: list[str] = []
        self.calls = asyncio.Event()
        self.gate = asyncio.Event()
        self.fail = False

    def register_script(self, _: str) -> Callable[..., Coroutine[Any, Any, int]]:
        async def append(keys: list[str], args: list[Any]) -> int:
            self.calls.set()
            await self.gate.wait()
            if self.fail:
                raise ConnectionError("Redis went away")
            self.written += [str(packed).split("\t")[0] for packed in args[1:]]
            return len(args) - 1

        return append


def dropped() -> float:
    return REGISTRY.get_sample_value("recgpt_experiment_exposure_writes_total", {"outcome": "dropped"}) or 0.0


async def flush_while_recording(redis: GatedRedis, log: ExposureLog, users: list[str]) -> int:
    flushing = asyncio.create_task(log.flush())
    await redis.calls.wait()
    for user in users:
        log.record(exposure(user))
    redis.gate.set()
    return await flushing


async def test_records_evicting_the_batch_in_flight_are_kept_and_nothing_is_lost() -> None:
    redis = GatedRedis()
    log = ExposureLog(cast(aioredis.Redis, redis), "p", 1.0, max_buffer=3, timeout_s=5.0)
    for user in ("a", "b", "c"):
        log.record(exposure(user))
    before = dropped()

    written = await flush_while_recording(redis, log, ["d", "e"])

    assert written == 3 and redis.written == ["a", "b", "c"]
    assert [e.user_id for _, _, e in log.buffer] == ["d", "e"]
    assert dropped() == before
    await log.flush()
    assert redis.written == ["a", "b", "c", "d", "e"]


async def test_a_failed_write_counts_what_was_evicted_while_it_was_in_flight() -> None:
    redis = GatedRedis()
    redis.fail = True
    log = ExposureLog(cast(aioredis.Redis, redis), "p", 1.0, max_buffer=3, timeout_s=5.0)
    for user in ("a", "b", "c"):
        log.record(exposure(user))
    before = dropped()

    written = await flush_while_recording(redis, log, ["d", "e", "f", "g"])

    # a, b and c were evicted during the write that failed; d was evicted outside any write.
    assert written == 0 and [e.user_id for _, _, e in log.buffer] == ["e", "f", "g"]
    assert dropped() == before + 4
