"""A RecGPT-V1 profile from the intent and tags services' answers, as the near-line job stores it and the
evaluation measures it: what each agent answered, and whether the LLM or a fallback produced it."""

from __future__ import annotations

from recgpt.common.v1 import common_pb2
from recgpt.intent.v1 import intent_pb2
from recgpt.tags.v1 import tags_pb2
from recgpt_domain.profile_store import PartSource, ProfileInterest, ProfileTag, UserProfile
from recgpt_domain.prompt_versions import profile_prompt_version

INTERESTS = "interests"
TAGS = "tags"


def part_source(provenance: common_pb2.Provenance, fallback: bool) -> PartSource:
    """An answer's provenance; the answer's own `fallback` flag counts as well as the provenance's."""
    return PartSource(
        model=provenance.model,
        adapter=provenance.adapter,
        prompt_version=provenance.prompt_version,
        fallback=fallback or provenance.fallback,
    )


def profile_from_answers(
    user_id: str, mined: intent_pb2.MineInterestsResponse, predicted: tags_pb2.PredictTagsResponse
) -> UserProfile:
    """The profile of these answers; a fallback in either marks the whole profile as a fallback."""
    sources = {
        INTERESTS: part_source(mined.provenance, mined.fallback),
        TAGS: part_source(predicted.provenance, predicted.fallback),
    }
    return UserProfile(
        user_id=user_id,
        interests=[ProfileInterest(interest=i.interest, reason=i.reason) for i in mined.interests],
        tags=[
            ProfileTag(
                tag=t.tag,
                interest=t.interest,
                rationale=t.rationale,
                category=t.category,
                category_score=t.category_score,
            )
            for t in predicted.tags
        ],
        model=mined.provenance.model or predicted.provenance.model,
        prompt_version=profile_prompt_version(
            mined.provenance.prompt_version, predicted.provenance.prompt_version
        ),
        fallback=any(source.fallback for source in sources.values()),
        sources=sources,
    )
