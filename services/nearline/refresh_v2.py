"""One user's RecGPT-V2 refresh: planner -> experts -> arbiter (`recgpt_serving.persona_chain`), stored as a
profile under METHOD_V2 whose interests are the personas and whose tags keep the persona that proposed them;
then the tag route's top items are explained by meta-prompting (`METHOD_RECGPT_V2`), for the season and
time of day of the moment the job runs and the persona of each item's tag: the situation the gateway's
`recgpt-v2` pipeline asks for, so that it finds these texts (`gateway.pipelines.explanations`). V1's texts of
the same pairs are written too, as before: the gateway's next-best when the moment's text is missing (a text
written in the evening is a miss in the morning).

A profile the chain's V1 path made (no usable persona) is stored as a fallback profile: it is not what the
planner made, and it goes stale within hours.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from nearline.refresh import ProfileRefresher, ReasonedRefresher, Refreshed
from nearline.settings import NearlineSettings
from recgpt.common.v1 import common_pb2
from recgpt.explain.v1 import explain_pb2
from recgpt_domain.profile_answers import part_source
from recgpt_domain.profile_store import METHOD_V2, PartSource, ProfileInterest, ProfileTag, UserProfile
from recgpt_domain.prompt_versions import v2_profile_prompt_version
from recgpt_domain.situation import Situation, tag_persona
from recgpt_serving import persona_chain
from recgpt_serving.llm.usage import Usage
from recgpt_serving.service_stubs import ServiceStubs

# The parts of a V2 profile, as `UserProfile.sources` names them.
PLANNER, EXPERTS, ARBITER = "planner", "experts", "arbiter"


class V2ProfileRefresher(ProfileRefresher):
    def __init__(
        self, stubs: ServiceStubs, settings: NearlineSettings, clock: Callable[[], float] = time.time
    ) -> None:
        """`clock`: the moment whose season and time of day the explanations are written for."""
        super().__init__(stubs, settings)
        self.clock = clock

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
        profile = profile_of(user_id, answer)
        explanations, explain_fallback = await self._explain_situated(user_id, answer.tags, profile, usage)
        return Refreshed(
            profile=profile,
            usage=usage,
            explanations=explanations,
            explanation_fallback=explain_fallback,
        )

    async def _explain_situated(
        self, user_id: str, tags: Sequence[common_pb2.Tag], profile: UserProfile, usage: Usage
    ) -> tuple[int, bool]:
        """Writes the texts of the user's top tag-route items: V1's first, which the gateway serves when the
        moment's meta-prompted text is missing (mostly cache hits after the first refresh), then the
        meta-prompted ones for now and each tag's persona, one request per persona (a request carries one
        situation; the personas are a handful)."""
        pairs = await self._tag_route_pairs(user_id, tags)
        if not pairs:
            return 0, False
        now = self.clock()
        by_persona: dict[str, list[explain_pb2.ExplainPair]] = {}
        for pair in pairs:
            by_persona.setdefault(tag_persona(profile, pair.interest), []).append(pair)
        written = [await self._write_explanations(user_id, pairs, usage)]
        for persona, group in by_persona.items():
            situation = Situation.at_unix(now, persona).as_map()
            written.append(
                await self._write_explanations(user_id, group, usage, explain_pb2.METHOD_RECGPT_V2, situation)
            )
        return sum(count for count, _ in written), any(fallback for _, fallback in written)


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
