"""What the gateway holds for experiments: the config in process, exposure log, event and config stores,
the ledger job that folds the streams for reports, and the hourly trim that keeps the events stream to its
retention (never past what the ledgers have folded)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from experiments import ledger, store
from experiments.assignment import Assignment
from experiments.events import EVENT_RETENTION_S, EventStore
from experiments.exposures import Exposure, ExposureLog
from experiments.novelty import CategoryNovelty
from experiments.phases import Revision
from experiments.runtime import ExperimentRuntime
from experiments.store import ConfigStore
from recgpt_serving.metrics import EXPERIMENT_ASSIGNMENTS, EXPERIMENT_EXPOSURES, REDIS_TRIMMED

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ExperimentSettings:
    prefix: str
    known_variants: list[str]
    config_path: Path | None
    refresh_s: float
    redis_timeout_s: float
    exposure_flush_s: float
    exposure_buffer_max: int
    event_dedup_ttl_s: float
    catalogue_dir: Path | None
    # Events older than this leave the stream, checked every `event_trim_every_s`.
    event_retention_s: float = EVENT_RETENTION_S
    event_trim_every_s: float = 3600.0
    # Configs kept in the history stream.
    config_history_max: int = store.HISTORY_MAX
    # The ledger job: a round every `ledger_every_s`, folding events older than `ledger_settle_s`.
    ledger_every_s: float = ledger.EVERY_S
    ledger_settle_s: float = ledger.SETTLE_S


class Experiments:
    def __init__(self, client: aioredis.Redis, settings: ExperimentSettings) -> None:
        self.client = client
        self.settings = settings
        self.configs = ConfigStore(client, settings.prefix, history_max=settings.config_history_max)
        self.runtime = ExperimentRuntime(
            self.configs, settings.known_variants, settings.refresh_s, settings.redis_timeout_s
        )
        self.exposures = ExposureLog(
            client,
            settings.prefix,
            settings.exposure_flush_s,
            settings.exposure_buffer_max,
            settings.redis_timeout_s * 10,
        )
        self.events = EventStore(client, settings.prefix, settings.event_dedup_ttl_s)
        self.ledgers = ledger.LedgerStore(client, settings.prefix)
        self.ledger_job = ledger.LedgerJob(
            self.ledgers,
            self.configs.iter_history,
            self.serving,
            self.novelty,
            every_s=settings.ledger_every_s,
            settle_s=settings.ledger_settle_s,
        )
        self._novelty: CategoryNovelty | None = None
        self._trimming: asyncio.Task[None] | None = None
        self._folding: asyncio.Task[None] | None = None
        self._stopped = False

    async def start(self) -> None:
        await self.runtime.seed(self.settings.config_path)
        self.runtime.start()
        self.exposures.start()
        self._trimming = asyncio.create_task(self._trim_events(), name="experiments-event-trim")
        self._folding = asyncio.create_task(
            self.ledger_job.run(lambda: self._stopped), name="experiments-ledger"
        )

    async def close(self) -> None:
        self._stopped = True
        for task in (self._trimming, self._folding):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                    await asyncio.wait_for(task, timeout=self.settings.redis_timeout_s * 20)
        await self.runtime.close()
        await self.exposures.close()

    def serving(self) -> Revision:
        """The config this process serves, as a revision of the history."""
        return Revision(self.runtime.revision, None, self.runtime.assigner.config)

    async def trim_events(self, now_ms: int | None = None) -> int:
        """Drops the events older than the retention once, but none a ledger of a configured experiment has
        not folded yet; how many went (0 when Redis failed: logged)."""
        now = int(time.time() * 1000) if now_ms is None else now_ms
        try:
            async with asyncio.timeout(self.settings.redis_timeout_s * 20):
                ids = ledger.experiment_ids(self.runtime.assigner.config)
                folded_to = await self.ledgers.oldest_event_cursor_ms(ids)
                bound = now - int(self.settings.event_retention_s * 1000)
                if folded_to is not None and folded_to < bound:
                    log.warning("experiments: a ledger lags; events it has not folded are kept")
                    bound = folded_to
                dropped = await self.events.trim_before(bound)
        except (RedisError, TimeoutError, OSError) as error:
            log.warning("experiments: events trim failed", extra={"error": repr(error)})
            return 0
        REDIS_TRIMMED.labels("events").inc(dropped)
        if dropped:
            log.info("experiments: events trimmed", extra={"dropped": dropped})
        return dropped

    async def _trim_events(self) -> None:
        # At start, then every interval: a gateway restarted more often than hourly still trims. The flag as
        # well as the cancel, as in `ExperimentRuntime._follow`.
        while not self._stopped:
            await self.trim_events()
            await asyncio.sleep(self.settings.event_trim_every_s)

    def assign(self, user_id: str) -> Assignment:
        assignment = self.runtime.assign(user_id)
        for arm in assignment.arms:
            EXPERIMENT_ASSIGNMENTS.labels(arm.experiment, arm.arm).inc()
        return assignment

    def expose(
        self,
        *,
        user_id: str,
        request_id: str,
        assignment: Assignment,
        variant: str,
        status: int,
        latency_ms: float,
        fallback: bool,
        override: bool,
    ) -> None:
        """Logs one recommendation response (buffered: no Redis call here)."""
        for arm in assignment.arms:
            EXPERIMENT_EXPOSURES.labels(arm.experiment, arm.arm).inc()
        self.exposures.record(
            Exposure(
                user_id=user_id,
                request_id=request_id,
                arms=assignment.label(),
                revision=self.runtime.revision,
                variant=variant,
                status=status,
                latency_ms=latency_ms,
                fallback=fallback,
                override=override,
                holdout=assignment.holdout,
                forced=any(arm.forced for arm in assignment.arms),
            )
        )

    async def novelty(self) -> CategoryNovelty | None:
        """The novelty judge when a catalogue is configured, read once (off the event loop)."""
        if self._novelty is None and self.settings.catalogue_dir is not None:
            self._novelty = await asyncio.to_thread(CategoryNovelty, self.settings.catalogue_dir)
        return self._novelty
