"""What the gateway holds for experiments: the config in process, exposure log, event and config stores."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

import redis.asyncio as aioredis

from experiments.assignment import Assignment
from experiments.events import EventStore
from experiments.exposures import Exposure, ExposureLog
from experiments.novelty import CategoryNovelty
from experiments.runtime import ExperimentRuntime
from experiments.store import ConfigStore
from recgpt_serving.metrics import EXPERIMENT_ASSIGNMENTS, EXPERIMENT_EXPOSURES


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


class Experiments:
    def __init__(self, client: aioredis.Redis, settings: ExperimentSettings) -> None:
        self.client = client
        self.settings = settings
        self.configs = ConfigStore(client, settings.prefix)
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
        self._novelty: CategoryNovelty | None = None

    async def start(self) -> None:
        await self.runtime.seed(self.settings.config_path)
        self.runtime.start()
        self.exposures.start()

    async def close(self) -> None:
        await self.runtime.close()
        await self.exposures.close()

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
