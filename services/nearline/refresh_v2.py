"""One user's RecGPT-V2 refresh: planner -> experts -> arbiter (`recgpt_serving.persona_chain`), stored as a
profile under METHOD_V2 whose interests are the personas and whose tags keep the persona that proposed them;
then the tag route's top items are explained, as for V1.

A profile the chain's V1 path made (no usable persona) is stored as a fallback profile: it is not what the
planner made, and it goes stale within hours.
"""

from __future__ import annotations

from nearline.refresh import ProfileRefresher, ReasonedRefresher, Refreshed
from recgpt.common.v1 import common_pb2
from recgpt.tags.v1 import tags_pb2
from recgpt_domain.profile_answers import part_source
from recgpt_domain.profile_store import METHOD_V2, PartSource, ProfileInterest, ProfileTag, UserProfile
from recgpt_domain.prompt_versions import v2_profile_prompt_version
from recgpt_serving import persona_chain

# The parts of a V2 profile, as `UserProfile.sources` names them.
PLANNER, EXPERTS, ARBITER = "planner", "experts", "arbiter"


class V2ProfileRefresher(ProfileRefresher):
    async def refresh(self, user_id: str) -> Refreshed:
        """Raises grpc.aio.AioRpcError when a service fails; the agents' own fallbacks are not failures."""
        settings = self.settings
        answer = await persona_chain.reason(
            self.stubs.intent,
            self.stubs.tags,
            user_id,
            [],
            persona_chain.ChainOptions(
                deadline_s=settings.llm_call_deadline_s,
                personas=settings.personas,
                expert_tags=settings.expert_tags,
                arbiter_tags=settings.max_tags,
                v1_max_interests=settings.max_interests,
                v1_max_tags=settings.max_tags,
            ),
        )
        usage = answer.total_usage
        predicted = tags_pb2.PredictTagsResponse(tags=answer.tags)
        explanations, explain_fallback = await self._explain(user_id, predicted, usage)
        return Refreshed(
            profile=profile_of(user_id, answer),
            usage=usage,
            explanations=explanations,
            explanation_fallback=explain_fallback,
        )


def profile_of(user_id: str, answer: persona_chain.ChainAnswer) -> UserProfile:
    """The V2 profile of a chain's answer: personas as interests, the arbiter's tags with their personas."""
    planned = answer.planned
    sources = {PLANNER: part_source(planned.provenance, planned.fallback)}
    if answer.experts:
        sources[EXPERTS] = PartSource(
            model=answer.experts[0].provenance.model,
            adapter=answer.experts[0].provenance.adapter,
            prompt_version=answer.experts[0].provenance.prompt_version,
            fallback=answer.expert_fallbacks == len(answer.experts),
        )
    if answer.arbiter is not None:
        sources[ARBITER] = part_source(answer.arbiter.provenance, answer.arbiter.fallback)
    if answer.predicted is not None:
        sources["tags"] = part_source(answer.predicted.provenance, answer.predicted.fallback)
    return UserProfile(
        user_id=user_id,
        method=METHOD_V2,
        interests=[
            ProfileInterest(interest=p.persona, reason=f"rests on {', '.join(p.categories)}")
            for p in planned.personas
        ],
        tags=[_profile_tag(tag) for tag in answer.tags],
        model=planned.provenance.model,
        prompt_version=v2_profile_prompt_version(),
        fallback=answer.path == persona_chain.V1_TAGS or any(s.fallback for s in sources.values()),
        sources=sources,
    )


def _profile_tag(tag: common_pb2.Tag) -> ProfileTag:
    return ProfileTag(
        tag=tag.tag,
        interest=tag.interest,
        rationale=tag.rationale,
        category=tag.category,
        category_score=tag.category_score,
    )


class ReasonedV2Refresher(ReasonedRefresher, V2ProfileRefresher):
    """The follower's V2 refresher: remembers why a user's refresh failed, as `ReasonedRefresher`."""
