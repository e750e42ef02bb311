"""RecGPT-V2 online: served as RecGPT-V1 is (`recgpt_v1.RecGptV1Pipeline`: the profile's tags as a tag route
over the baseline's routes, cached explanations, a refresh queued on a miss), but from the profiles the
near-line job builds with the planner -> experts -> arbiter chain, under their own key and refresh queue, and
with the meta-prompted explanations of the request's situation (V1's texts as their next-best).

V1's pipeline reads one method's profiles; it is reused whole, handed a profile store and a refresh queue
that hold V2's and a `SituatedExplainer`. Nothing here calls an LLM.
"""

from __future__ import annotations

from gateway.pipelines.base import Recommendation
from gateway.pipelines.explanations import SituatedExplainer
from gateway.pipelines.recgpt_v1 import RecGptV1Pipeline
from gateway.schemas import RecommendRequest
from recgpt_domain.profile_store import METHOD_V1, METHOD_V2, ProfileStore, UserProfile


class MethodProfiles(ProfileStore):
    """A profile store whose reads are one method's, whatever method the reader names."""

    def __init__(self, store: ProfileStore, method: str) -> None:
        super().__init__(store.client, store.keys.prefix, store.ttl_s, store.fallback_ttl_s)
        self.method = method

    async def get(self, user_id: str, method: str = METHOD_V1) -> UserProfile | None:
        return await super().get(user_id, self.method)


class RecGptV2Pipeline:
    name = METHOD_V2

    def __init__(self, served_as_v1: RecGptV1Pipeline) -> None:
        """`served_as_v1`: V1's pipeline over `MethodProfiles(profiles, METHOD_V2)`, V2's refresh queue and a
        `SituatedExplainer`."""
        if not isinstance(served_as_v1.profiles, MethodProfiles) or served_as_v1.profiles.method != METHOD_V2:
            raise ValueError("RecGPT-V2 must read METHOD_V2 profiles")
        if served_as_v1.refresh_queue.method != METHOD_V2:
            raise ValueError("RecGPT-V2 must queue its refreshes on the METHOD_V2 queue")
        if not isinstance(served_as_v1.explainer, SituatedExplainer):
            raise ValueError("RecGPT-V2 must read its explanations with a SituatedExplainer")
        self.served_as_v1 = served_as_v1

    async def recommend(self, request: RecommendRequest) -> Recommendation:
        return await self.served_as_v1.recommend(request)
