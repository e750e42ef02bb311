"""The config held in process: seeded from YAML once, changed through one gateway, followed by the others."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis.asyncio as aioredis
import yaml  # type: ignore[import-untyped]

from experiments.config import ConfigProblems, ExperimentConfig, check
from experiments.runtime import ExperimentRuntime
from experiments.store import ConfigStore
from tests.experiments.configs import VARIANTS, config, two_arms

REPO_CONFIG = Path(__file__).resolve().parents[2] / "deploy" / "experiments.yaml"


def runtime(client: aioredis.Redis, prefix: str) -> ExperimentRuntime:
    return ExperimentRuntime(ConfigStore(client, prefix), VARIANTS, refresh_s=0.05, redis_timeout_s=0.5)


async def test_seed_change_and_follow(
    redis_client: aioredis.Redis, redis_prefix: str, tmp_path: Path
) -> None:
    first, second = runtime(redis_client, redis_prefix), runtime(redis_client, redis_prefix)
    await first.seed(REPO_CONFIG)
    await second.seed(REPO_CONFIG)  # Redis holds one already: not stored again
    assert first.revision == second.revision == 1
    assert [c["revision"] for c in await first.store.history()] == [1]
    revision = await first.apply(config(two_arms()), "test")
    assert revision == 2 and first.assign("u1").arms
    await second.refresh()
    assert second.revision == 2 and second.assign("u1").arms == first.assign("u1").arms
    bad = config(two_arms(control="ghost"))
    with pytest.raises(ConfigProblems):
        await first.apply(bad, "test")
    assert first.revision == 2 and (await first.store.current()) is not None


def test_the_repository_config_is_valid() -> None:
    check(ExperimentConfig.model_validate(yaml.safe_load(REPO_CONFIG.read_text())), VARIANTS)
