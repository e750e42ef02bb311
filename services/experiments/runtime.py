"""The gateway's view of the config: held in the process, refreshed from Redis in the background.

A request never reads the config from Redis: it asks the in-process `Assigner`, so assignment costs no round
trip. Every `refresh_s` a background task reads the stored document and recompiles only when it changed. A
config change through the admin API is stored first and served at once by the process that took it; the
others follow within `refresh_s`. When Redis cannot be read, the last good config keeps serving.

A replica takes a stored config only under a higher revision than the one it serves, and never goes back.
When the store lost the config (Redis came back empty, or holds the YAML a gateway seeded since, or an older
replica's write-back), the replica writes its own back under a new revision (`ConfigStore.restore`), and the
others take that: the last change made survives a wipe, and the next one is served by every replica.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime
from pathlib import Path

import yaml  # type: ignore[import-untyped]
from redis.exceptions import RedisError

from experiments import config as config_module
from experiments.assignment import Assigner, Assignment
from experiments.config import ExperimentConfig
from experiments.store import ConfigStore, parse_stored
from recgpt_serving.metrics import EXPERIMENT_CONFIG_REVISION

log = logging.getLogger(__name__)
# The source of a config a replica wrote back, before the source of the change it first came from.
RESTORED = "restored by a replica: "


def read_yaml(path: Path) -> ExperimentConfig:
    """The config a YAML file holds (validated as a model; `check` is for the caller)."""
    return ExperimentConfig.model_validate(yaml.safe_load(path.read_text()) or {})


class ExperimentRuntime:
    def __init__(
        self, store: ConfigStore, known_variants: list[str], refresh_s: float, redis_timeout_s: float
    ) -> None:
        self.store = store
        self.known_variants = known_variants
        self.refresh_s = refresh_s
        self.redis_timeout_s = redis_timeout_s
        self.assigner = Assigner(ExperimentConfig())
        self.revision = 0
        # Where the served config comes from (`StoredConfig.origin`): 0 for the YAML file's.
        self.origin = 0
        self.source = ""
        self._raw: str | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopped = False

    def assign(self, user_id: str) -> Assignment:
        return self.assigner.assign(user_id, datetime.now(UTC))

    def validate(self, candidate: ExperimentConfig) -> None:
        """Raises ConfigProblems when the config must not serve."""
        config_module.check(candidate, self.known_variants)

    async def seed(self, path: Path | None) -> None:
        """Stores the YAML as the first config when Redis holds none, then serves what Redis holds."""
        if path is not None:
            initial = read_yaml(path)
            self.validate(initial)
            try:
                async with asyncio.timeout(self.redis_timeout_s * 10):
                    await self.store.seed(initial, f"file:{path.name}")
            except (RedisError, TimeoutError, OSError) as error:
                log.warning("experiments: could not seed the config", extra={"error": repr(error)})
                self._serve(initial, 0, origin=0, source=f"file:{path.name}")
        await self.refresh()

    async def apply(self, candidate: ExperimentConfig, source: str) -> int:
        """Validates, stores, then serves; raises ConfigProblems or a Redis error, the old one serving."""
        self.validate(candidate)
        async with asyncio.timeout(self.redis_timeout_s * 10):
            revision = await self.store.put(candidate, source, floor=self.revision + 1)
        self._serve(candidate, revision, origin=revision, source=source)
        return revision

    async def refresh(self) -> None:
        try:
            async with asyncio.timeout(self.redis_timeout_s * 10):
                raw = await self.store.raw_current()
        except (RedisError, TimeoutError, OSError) as error:
            log.warning("experiments: config refresh failed", extra={"error": repr(error)})
            return
        if raw == self._raw and raw is not None:
            return
        if raw is None:
            await self._write_back("the store holds no config")
            return
        try:
            stored = parse_stored(raw)
            self.validate(stored.config)
        except ValueError as error:  # pydantic's ValidationError and ConfigProblems alike
            log.error(
                "experiments: stored config refused, the old one keeps serving", extra={"error": str(error)}
            )
            self._raw = raw
            return
        if self.revision > 0 and stored.origin < self.origin:
            await self._write_back(f"the store holds revision {stored.revision} of an older origin")
            return
        if stored.revision <= self.revision:
            if stored.revision < self.revision:
                log.warning(
                    "experiments: stored revision is older than the one served, not taken",
                    extra={"revision": stored.revision, "serving": self.revision},
                )
            self._raw = raw
            return
        self._raw = raw
        self._serve(stored.config, stored.revision, origin=stored.origin, source=stored.source)

    async def _write_back(self, why: str) -> None:
        """Stores the config this replica serves again, under a new revision, when the store lost it; a
        replica that serves nothing stored (revision 0 and no file) has nothing to write."""
        if self.revision == 0 and not self.source:
            return
        source = self.source if self.origin == 0 else RESTORED + self.source.removeprefix(RESTORED)
        try:
            async with asyncio.timeout(self.redis_timeout_s * 10):
                revision = await self.store.restore(
                    self.assigner.config, source, origin=self.origin, floor=self.revision + 1
                )
        except (RedisError, TimeoutError, OSError) as error:
            log.warning("experiments: config write-back failed", extra={"error": repr(error)})
            return
        if revision is None:
            return  # another replica wrote a config at least as recent: taken at the next refresh
        log.warning(
            "experiments: config written back", extra={"why": why, "revision": revision, "was": self.revision}
        )
        self._serve(self.assigner.config, revision, origin=self.origin, source=self.source)

    def _serve(self, config: ExperimentConfig, revision: int, *, origin: int, source: str) -> None:
        self.assigner = Assigner(config)
        if revision != self.revision:
            log.info("experiments: serving config", extra={"revision": revision})
        self.revision = revision
        self.origin = origin
        self.source = source
        EXPERIMENT_CONFIG_REVISION.set(revision)

    def start(self) -> None:
        self._task = asyncio.create_task(self._follow(), name="experiments-config-refresh")

    async def _follow(self) -> None:
        # The flag as well as the cancel: a cancel that lands as an inner timeout fires can surface as a
        # TimeoutError (Python 3.11), which `refresh` takes for a slow Redis.
        while not self._stopped:
            await asyncio.sleep(self.refresh_s)
            await self.refresh()

    async def close(self) -> None:
        self._stopped = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(self._task, timeout=self.redis_timeout_s * 20)
