"""`recgpt-nearline --method recgpt-v2`: profiles from planner -> experts -> arbiter under their own key,
the personas as interests and each tag with its persona; a profile the V1 path made is a fallback one. Their
explanations are meta-prompted for the moment the job runs and each tag's persona."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from nearline.cli import amain
from nearline.refresh_v2 import V2ProfileRefresher
from nearline.settings import NearlineSettings
from recgpt.explain.v1 import explain_pb2
from recgpt_domain.behaviour_store import BehaviourStore
from recgpt_domain.catalogue import Interaction
from recgpt_domain.profile_store import METHOD_V2, ProfileStore
from recgpt_domain.prompt_versions import v2_profile_prompt_version
from recgpt_serving.service_stubs import ServiceStubs
from tests.evaluation.fake_services import MODEL
from tests.evaluation.fake_v2_services import fake_v2_platform
from tests.nearline.fake_targets import point_at


async def run(tmp_path: Path, *argv: str) -> dict[str, Any]:
    out = tmp_path / "summary.json"
    code = await amain(["--no-progress", "--json", str(out), "--explain-items", "0", *argv])
    assert code == 0
    summary: dict[str, Any] = json.loads(out.read_text())
    return summary


@pytest.mark.usefixtures("environment")
async def test_v2_profiles_are_built_under_their_own_key(
    redis_client: aioredis.Redis, redis_prefix: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = BehaviourStore(redis_client, redis_prefix)
    for user_id in ("1", "2"):
        await store.append(user_id, [Interaction(item_id="1"), Interaction(item_id="2")])
    profiles = ProfileStore(redis_client, redis_prefix)
    async with fake_v2_platform() as (target, seen):
        point_at(target, monkeypatch)
        summary = await run(tmp_path, "--method", "recgpt-v2")
        # User 1 through the chain; user 2's planner fell back: the V1 path's profile is a fallback one.
        assert (summary["users_done"], summary["users_fallback"], summary["users_failed"]) == (1, 1, 0)
        # Planner 30 + two experts 15 each + arbiter 25; planner 30 + interests 10 + tags 20.
        assert summary["prompt_tokens"] == 85 + 60

        stored = await profiles.get("1", METHOD_V2)
        assert stored is not None and await profiles.get("1") is None
        assert (stored.method, stored.model, stored.fallback) == (METHOD_V2, MODEL, False)
        assert stored.prompt_version == v2_profile_prompt_version()
        assert [i.interest for i in stored.interests] == ["comedy fan", "drama fan"]
        assert [(t.category, t.interest) for t in stored.tags] == [
            ("Drama", "comedy fan"),
            ("Comedy", "comedy fan"),
        ]
        assert set(stored.sources) == {"planner", "experts", "arbiter"}

        fallback = await profiles.get("2", METHOD_V2)
        assert fallback is not None and fallback.fallback and fallback.interests == []
        assert [t.category for t in fallback.tags] == ["Sci-Fi"]
        # The services read the users' logs themselves.
        assert all(len(r.behaviour) == 0 for r in seen.of("PlanPersonas"))

        # A rerun skips the fresh LLM profile; the fallback one is still fresh for hours.
        summary = await run(tmp_path, "--method", "recgpt-v2")
        assert summary["users_skipped"] == 2 and len(seen.of("PlanPersonas")) == 2


@pytest.mark.usefixtures("environment")
async def test_v2_explanations_are_written_for_the_moment_and_each_tags_persona(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    a_winter_evening = datetime(2027, 1, 14, 20, 30, tzinfo=UTC).timestamp()
    async with fake_v2_platform() as (target, seen):
        point_at(target, monkeypatch)
        settings = NearlineSettings()
        stubs = ServiceStubs(settings)
        try:
            refresher = V2ProfileRefresher(stubs, settings, clock=lambda: a_winter_evening)
            chained = await refresher.refresh("1")
            v1_path = await refresher.refresh("2")
        finally:
            await stubs.close()

    explained = seen.of("Explain")
    assert [(r.user_id, r.method, r.cache_only) for r in explained] == [
        ("1", explain_pb2.METHOD_RECGPT_V1, False),
        ("1", explain_pb2.METHOD_RECGPT_V2, False),
        ("2", explain_pb2.METHOD_RECGPT_V1, False),
        ("2", explain_pb2.METHOD_RECGPT_V2, False),
    ]
    chain_v1, chain_v2, v1_path_v1, v1_path_v2 = explained
    # V1's texts of the same pairs, for the gateway's next-best: no situation.
    assert not chain_v1.situation and not v1_path_v1.situation
    assert list(chain_v1.pairs) == list(chain_v2.pairs)
    # User 1's tag route answers with the comedy fan's tag (Drama): that persona is the situation's.
    assert dict(chain_v2.situation) == {"season": "winter", "time_of_day": "evening", "persona": "comedy fan"}
    assert {(p.interest, p.item_id) for p in chain_v2.pairs} == {("comedy fan", "3"), ("comedy fan", "4")}
    # The V1 path's tags come from mined interests, not personas: the situation names none.
    assert dict(v1_path_v2.situation) == {"season": "winter", "time_of_day": "evening"}
    assert [(p.interest, p.item_id) for p in v1_path_v2.pairs] == [("films", "7")]
    assert (chained.explanations, v1_path.explanations) == (2 + 2, 1 + 1)
