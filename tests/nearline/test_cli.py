"""`recgpt-nearline` batch runs against fake services and a real Redis: profiles, skips, failures."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
from prometheus_client import REGISTRY

from nearline.cli import amain, duration_s
from recgpt.explain.v1 import explain_pb2
from recgpt_domain.behaviour_store import BehaviourStore
from recgpt_domain.catalogue import Interaction
from recgpt_domain.profile_store import METHOD_V1, PartSource, ProfileStore, UserProfile
from tests.evaluation.fake_services import (
    ADAPTER,
    INTEREST,
    INTERESTS_VERSION,
    MODEL,
    TAGS_VERSION,
    Fallbacks,
    fake_platform,
)
from tests.nearline.fake_targets import CURRENT, point_at


def users_counted(outcome: str) -> float:
    return REGISTRY.get_sample_value("recgpt_nearline_users_total", {"outcome": outcome}) or 0.0


@pytest.fixture
async def users(redis_client: aioredis.Redis, redis_prefix: str) -> list[str]:
    """Three users in Redis; the fakes fail user "10"."""
    store = BehaviourStore(redis_client, redis_prefix)
    for user_id in ("10", "2", "1"):
        await store.append(user_id, [Interaction(item_id="1"), Interaction(item_id="5")])
    return ["1", "2", "10"]


async def run(tmp_path: Path, *argv: str) -> tuple[int, dict[str, Any]]:
    out = tmp_path / "summary.json"
    code = await amain(["--no-progress", "--json", str(out), *argv], prompt_version=CURRENT)
    return code, json.loads(out.read_text())


@pytest.mark.usefixtures("environment")
async def test_batch_writes_profiles_skips_fresh_ones_and_counts_failures(
    users: list[str],
    redis_client: aioredis.Redis,
    redis_prefix: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    profiles = ProfileStore(redis_client, redis_prefix)
    failed_before = users_counted("failed")
    async with fake_platform(fail_users={"10"}) as (target, seen):
        point_at(target, monkeypatch)
        code, summary = await run(tmp_path)
        assert code == 0
        assert (summary["users_done"], summary["users_skipped"], summary["users_failed"]) == (2, 0, 1)
        # Per refreshed user: intent 10+5, tags 20+10, explain 30+15 tokens; two explanations each.
        assert (summary["prompt_tokens"], summary["completion_tokens"]) == (120, 60)
        assert summary["explanations"] == 4
        assert summary["users_per_minute"] > 0
        assert summary["total_tokens_per_s"] == pytest.approx(180 / summary["wall_s"], rel=0.1)
        assert users_counted("failed") == failed_before + 1
        assert summary["users_fallback"] == 0

        stored = await profiles.get("1")
        assert stored is not None
        assert [i.interest for i in stored.interests] == [INTEREST]
        assert [(t.tag, t.category) for t in stored.tags] == [
            ("quiet drama", "Drama"),
            ("slow drama", "Drama"),
        ]
        assert (stored.model, stored.prompt_version, stored.fallback) == (MODEL, CURRENT, False)
        assert stored.sources == {
            "interests": PartSource(model=MODEL, adapter=ADAPTER, prompt_version=INTERESTS_VERSION),
            "tags": PartSource(model=MODEL, adapter=ADAPTER, prompt_version=TAGS_VERSION),
        }
        assert await profiles.get("10") is None

        mined = seen.of("MineInterests")
        assert sorted(r.user_id for r in mined) == ["1", "10", "2"]
        assert all(len(r.behaviour) == 0 for r in mined)  # the services read Redis themselves
        searches = seen.of("Search")
        assert {(r.exclude_seen_of_user, r.top_k, r.per_query_top_k) for r in searches} == {
            ("1", 5, 10),
            ("2", 5, 10),
        }
        explained = seen.of("Explain")
        assert {(p.interest, p.item_id) for r in explained for p in r.pairs} == {
            (INTEREST, "3"),
            (INTEREST, "4"),
        }
        assert not any(r.cache_only for r in explained)
        # V1's texts carry no situation: the V2 job's do.
        assert all(r.method == explain_pb2.METHOD_RECGPT_V1 and not r.situation for r in explained)

        # A rerun resumes: fresh users are skipped, the failed one is tried again.
        code, summary = await run(tmp_path)
        assert (summary["users_done"], summary["users_skipped"], summary["users_failed"]) == (0, 2, 1)
        assert len(seen.of("MineInterests")) == 4

        code, summary = await run(tmp_path, "--force", "--users", "1,2")
        assert (summary["users_done"], summary["users_skipped"], summary["users_failed"]) == (2, 0, 0)


@pytest.mark.usefixtures("environment", "users")
async def test_stale_or_other_model_profiles_are_refreshed(
    redis_client: aioredis.Redis, redis_prefix: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    profiles = ProfileStore(redis_client, redis_prefix)
    old = {"user_id": "1", "interests": [], "tags": [], "model": MODEL, "prompt_version": CURRENT}
    await profiles.put(UserProfile.model_validate({**old, "prompt_version": "interests=old;tags=old"}))
    await profiles.put(UserProfile.model_validate({**old, "user_id": "2", "model": "other-model"}))
    await profiles.put(UserProfile.model_validate({**old, "user_id": "10", "created_at_unix": 1000}))
    async with fake_platform() as (target, _):
        point_at(target, monkeypatch)
        code, summary = await run(tmp_path, "--max-age", "1d")
    assert code == 0
    assert (summary["users_done"], summary["users_skipped"]) == (3, 0)
    stored = await profiles.get("1")
    assert stored is not None and stored.prompt_version == CURRENT


@pytest.mark.usefixtures("environment", "users")
async def test_a_profile_from_fallback_answers_is_counted_apart_and_goes_stale_within_hours(
    redis_client: aioredis.Redis, redis_prefix: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    profiles = ProfileStore(redis_client, redis_prefix)
    fallback_before, done_before = users_counted("fallback"), users_counted("done")
    async with fake_platform(fallbacks=Fallbacks(tags=frozenset({"2"}))) as (target, seen):
        point_at(target, monkeypatch)
        code, summary = await run(tmp_path, "--users", "1,2")
        assert code == 0
        assert (summary["users_done"], summary["users_fallback"], summary["users_failed"]) == (1, 1, 0)
        assert (users_counted("done"), users_counted("fallback")) == (done_before + 1, fallback_before + 1)

        llm, fallback = await profiles.get("1"), await profiles.get("2")
        assert llm is not None and not llm.fallback and llm.fallback_parts == []
        assert fallback is not None and fallback.fallback and fallback.fallback_parts == ["tags"]
        assert fallback.sources["tags"] == PartSource(
            model=MODEL, adapter=ADAPTER, prompt_version=TAGS_VERSION, fallback=True
        )
        # In Redis for the default 6 hours, against 30 days for the LLM's profile.
        fallback_ttl_ms = await redis_client.pttl(profiles.keys.profile(METHOD_V1, "2"))
        assert 0 < fallback_ttl_ms <= 6 * 3600 * 1000
        assert await redis_client.ttl(profiles.keys.profile(METHOD_V1, "1")) > 29 * 86400

        # Two hours on, with a one-hour fallback life: only the fallback profile is refreshed.
        for stored in (llm, fallback):
            await profiles.put(stored.model_copy(update={"created_at_unix": stored.created_at_unix - 7200}))
        monkeypatch.setenv("RECGPT_PROFILE_FALLBACK_TTL_S", "3600")
        code, summary = await run(tmp_path, "--users", "1,2")
        assert (summary["users_fallback"], summary["users_skipped"], summary["users_done"]) == (1, 1, 0)
        assert sorted(r.user_id for r in seen.of("MineInterests")) == ["1", "2", "2"]
        assert 0 < await redis_client.pttl(profiles.keys.profile(METHOD_V1, "2")) <= 3600 * 1000


@pytest.mark.usefixtures("environment", "users")
async def test_users_file_and_limit_choose_the_users(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    listed = tmp_path / "users.txt"
    listed.write_text("2\n# a comment\n\n10\n1\n")
    async with fake_platform() as (target, seen):
        point_at(target, monkeypatch)
        _, summary = await run(tmp_path, "--users-file", str(listed), "--limit", "2")
        assert summary["users_done"] == 2
        assert sorted(r.user_id for r in seen.of("MineInterests")) == ["10", "2"]
        _, summary = await run(tmp_path, "--limit", "1", "--force")
        assert seen.of("MineInterests")[-1].user_id == "1"  # all users, in numeric order


@pytest.mark.usefixtures("environment", "users")
async def test_every_user_failing_exits_nonzero(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    point_at("127.0.0.1:1", monkeypatch)  # nothing listens there
    monkeypatch.setenv("RECGPT_LLM_CALL_DEADLINE_S", "2")
    code, summary = await run(tmp_path, "--users", "1,2")
    assert code == 1
    assert summary["users_failed"] == 2


def test_durations_read_units() -> None:
    assert duration_s("14d") == 14 * 86400
    assert duration_s("90") == 90
    assert duration_s("1.5h") == 5400
    with pytest.raises(argparse.ArgumentTypeError):
        duration_s("soon")
    with pytest.raises(argparse.ArgumentTypeError):
        duration_s("0")


@pytest.mark.usefixtures("environment")
async def test_with_a_caches_redis_profiles_are_written_there_and_not_beside_state(
    users: list[str],
    redis_client: aioredis.Redis,
    redis_prefix: str,
    cache_redis_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    caches = aioredis.from_url(cache_redis_url)
    monkeypatch.setenv("RECGPT_CACHE_REDIS_URL", cache_redis_url)
    try:
        async with fake_platform(fail_users={"10"}) as (target, _):
            point_at(target, monkeypatch)
            code, summary = await run(tmp_path, "--users", "1")
        assert (code, summary["users_done"]) == (0, 1)
        assert await ProfileStore(caches, redis_prefix).get("1") is not None
        assert await ProfileStore(redis_client, redis_prefix).get("1") is None
    finally:
        await caches.aclose()
