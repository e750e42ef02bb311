"""The near-line refresh as a Ray Data pipeline (on a local Ray) writes the profiles the in-process worker
writes for the same users, through the same services (fakes served in this process on port 0)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
import ray
import redis.asyncio as aioredis

from nearline import ray_pipeline
from nearline.job import Freshness, NearlineJob, Tally
from nearline.refresh import ProfileRefresher
from nearline.settings import NearlineSettings
from recgpt_domain.profile_store import ProfileStore, UserProfile
from recgpt_serving.service_stubs import ServiceStubs
from tests.evaluation.fake_services import MODEL, fake_platform
from tests.nearline.fake_targets import CURRENT

USERS = [f"u{k}" for k in range(12)] + ["bad"]


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    """A local Ray for this module (starting one takes seconds)."""
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        yield
    finally:
        ray.shutdown()


def settings_for(target: str, redis_url: str, prefix: str) -> NearlineSettings:
    return NearlineSettings(
        redis_url=redis_url,
        redis_prefix=prefix,
        intent_target=target,
        tags_target=target,
        retrieval_target=target,
        explain_target=target,
        concurrency=4,
    )


def comparable(profile: UserProfile | None) -> dict[str, Any] | None:
    """What was refreshed, without when."""
    return None if profile is None else profile.model_dump(exclude={"created_at_unix"})


@pytest.mark.usefixtures("local_ray")
async def test_ray_pipeline_writes_what_the_in_process_worker_writes(
    redis_client: aioredis.Redis, redis_url: str, redis_prefix: str
) -> None:
    freshness = Freshness(MODEL, CURRENT, 3600)
    in_process = ProfileStore(redis_client, f"{redis_prefix}-job")
    on_ray = ProfileStore(redis_client, f"{redis_prefix}-ray")
    async with fake_platform(fail_users={"bad"}) as (target, _):
        settings = settings_for(target, redis_url, f"{redis_prefix}-job")
        stubs = ServiceStubs(settings)
        try:
            job = NearlineJob(ProfileRefresher(stubs, settings), in_process, freshness, settings.concurrency)
            tally = Tally()
            for user_id in USERS:
                await job.handle(user_id, tally)
        finally:
            await stubs.close()
        ray_settings = settings_for(target, redis_url, f"{redis_prefix}-ray")
        # Ray's driver blocks while the pipeline runs: off the loop, so that the fakes keep answering.
        rows = await asyncio.to_thread(
            ray_pipeline.refresh, USERS, ray_settings, freshness, actors=2, batch_size=4
        )
        again = await asyncio.to_thread(
            ray_pipeline.refresh, USERS, ray_settings, freshness, actors=2, batch_size=4
        )

    counted = ray_pipeline.tally_of(rows)
    assert (counted.done, counted.failed, counted.skipped) == (tally.done, tally.failed, 0) == (12, 1, 0)
    assert counted.explanations == tally.explanations > 0
    for user_id in USERS:
        assert comparable(await on_ray.get(user_id)) == comparable(await in_process.get(user_id)), user_id
    assert await on_ray.get("bad") is None
    # Stored profiles are fresh: a second run skips them and retries only the failed user.
    assert ray_pipeline.tally_of(again).skipped == 12
    assert sorted(row["user_id"] for row in again if row["outcome"] == "failed") == ["bad"]
