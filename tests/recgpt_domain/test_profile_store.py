"""Profiles say what produced them, and one from fallback answers is stale within hours."""

from __future__ import annotations

import redis.asyncio as aioredis

from recgpt.common.v1 import common_pb2
from recgpt.intent.v1 import intent_pb2
from recgpt.tags.v1 import tags_pb2
from recgpt_domain.profile_answers import profile_from_answers
from recgpt_domain.profile_store import (
    FALLBACK_PROFILE_TTL_S,
    LLM_PROFILE_MAX_AGE_S,
    METHOD_V1,
    PartSource,
    ProfileStore,
    UserProfile,
)
from recgpt_domain.prompt_versions import profile_prompt_version

NOW = 1_000_000_000.0


def answers(
    interests_fallback: bool = False, tags_provenance_fallback: bool = False
) -> tuple[intent_pb2.MineInterestsResponse, tags_pb2.PredictTagsResponse]:
    mined = intent_pb2.MineInterestsResponse(
        interests=[common_pb2.Interest(interest="lab safety", reason="gloves and goggles")],
        provenance=common_pb2.Provenance(
            model="m", adapter="a1", prompt_version="interests-v9", fallback=interests_fallback
        ),
        fallback=interests_fallback,
    )
    # The tags answer's own flag is off: a fallback named only in its provenance still counts.
    predicted = tags_pb2.PredictTagsResponse(
        tags=[common_pb2.Tag(tag="nitrile gloves", interest="lab safety", category="Gloves")],
        provenance=common_pb2.Provenance(
            model="m", prompt_version="tags-v9", fallback=tags_provenance_fallback
        ),
    )
    return mined, predicted


def test_a_profile_of_llm_answers_records_each_part_s_source() -> None:
    profile = profile_from_answers("u1", *answers())
    assert not profile.fallback and profile.fallback_parts == []
    assert profile.model == "m"
    assert profile.prompt_version == profile_prompt_version("interests-v9", "tags-v9")
    assert profile.sources == {
        "interests": PartSource(model="m", adapter="a1", prompt_version="interests-v9"),
        "tags": PartSource(model="m", prompt_version="tags-v9"),
    }
    assert [t.tag for t in profile.tags] == ["nitrile gloves"]


def test_a_fallback_in_any_part_marks_the_profile() -> None:
    assert profile_from_answers("u1", *answers(interests_fallback=True)).fallback_parts == ["interests"]
    from_provenance = profile_from_answers("u1", *answers(tags_provenance_fallback=True))
    assert from_provenance.fallback and from_provenance.fallback_parts == ["tags"]


def test_a_fallback_profile_is_current_for_hours_an_llm_one_for_weeks() -> None:
    llm = profile_from_answers("u1", *answers()).model_copy(update={"created_at_unix": int(NOW)})
    fallback = llm.model_copy(update={"fallback": True})
    version = llm.prompt_version

    def current(
        profile: UserProfile, age_s: float, fallback_max_age_s: float = FALLBACK_PROFILE_TTL_S
    ) -> bool:
        return profile.is_current("m", version, LLM_PROFILE_MAX_AGE_S, fallback_max_age_s, now=NOW + age_s)

    assert current(llm, FALLBACK_PROFILE_TTL_S + 1) and current(fallback, FALLBACK_PROFILE_TTL_S - 1)
    assert not current(fallback, FALLBACK_PROFILE_TTL_S + 1)
    assert not current(fallback, 120, fallback_max_age_s=60)
    assert not current(llm, LLM_PROFILE_MAX_AGE_S + 1)
    assert not llm.is_current("other-model", version, LLM_PROFILE_MAX_AGE_S, now=NOW)


def test_a_profile_written_before_sources_existed_still_reads() -> None:
    old = (
        '{"user_id": "u1", "interests": [], "tags": [], "model": "m", "prompt_version": "p", '
        '"fallback": true}'
    )
    profile = UserProfile.model_validate_json(old)
    assert profile.fallback and profile.sources == {} and profile.fallback_parts == []


async def test_a_fallback_profile_leaves_redis_after_its_short_life(
    redis_client: aioredis.Redis, redis_prefix: str
) -> None:
    store = ProfileStore(redis_client, redis_prefix, ttl_s=86400, fallback_ttl_s=120)
    llm = profile_from_answers("llm", *answers())
    fallback = profile_from_answers("fb", *answers(interests_fallback=True))
    await store.put(llm)
    await store.put(fallback)
    assert 0 < await redis_client.pttl(store.keys.profile(METHOD_V1, "fb")) <= 120_000
    assert 120 < await redis_client.ttl(store.keys.profile(METHOD_V1, "llm")) <= 86400
    assert await store.get("fb") == fallback
