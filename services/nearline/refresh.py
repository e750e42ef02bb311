"""One user's refresh: interests -> tags -> tag-route items -> explanations, through the services."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import grpc

from nearline.settings import NearlineSettings
from recgpt.common.v1 import common_pb2
from recgpt.explain.v1 import explain_pb2
from recgpt.intent.v1 import intent_pb2
from recgpt.retrieval.v1 import retrieval_pb2
from recgpt.tags.v1 import tags_pb2
from recgpt_domain.profile_answers import profile_from_answers
from recgpt_domain.profile_store import UserProfile
from recgpt_serving.llm.usage import Usage
from recgpt_serving.service_stubs import ServiceStubs


@dataclass
class Refreshed:
    profile: UserProfile
    usage: Usage
    explanations: int
    # True when the explain service wrote some of them from its template (the profile itself may be LLM).
    explanation_fallback: bool = False


class ProfileRefresher:
    """Calls the same gRPC services as serving; the services read the user's behaviour from Redis."""

    def __init__(self, stubs: ServiceStubs, settings: NearlineSettings) -> None:
        self.stubs = stubs
        self.settings = settings

    async def refresh(self, user_id: str) -> Refreshed:
        """Raises grpc.aio.AioRpcError when a service fails; the agents' own fallbacks are not failures."""
        llm_deadline = self.settings.llm_call_deadline_s
        usage = Usage()
        mined = await self.stubs.intent.MineInterests(
            intent_pb2.MineInterestsRequest(
                user_id=user_id,
                method=intent_pb2.METHOD_RECGPT_V1,
                max_interests=self.settings.max_interests,
            ),
            timeout=llm_deadline,
        )
        usage.add(mined.usage)
        predicted = await self.stubs.tags.PredictTags(
            tags_pb2.PredictTagsRequest(
                user_id=user_id, interests=mined.interests, max_tags=self.settings.max_tags
            ),
            timeout=llm_deadline,
        )
        usage.add(predicted.usage)
        explanations, explain_fallback = await self._explain(user_id, predicted, usage)
        profile = profile_from_answers(user_id, mined, predicted)
        return Refreshed(
            profile=profile, usage=usage, explanations=explanations, explanation_fallback=explain_fallback
        )

    async def _explain(
        self, user_id: str, predicted: tags_pb2.PredictTagsResponse, usage: Usage
    ) -> tuple[int, bool]:
        """Explains the user's top tag-route items so the explain service caches them for serving."""
        pairs = await self._tag_route_pairs(user_id, predicted.tags)
        if not pairs:
            return 0, False
        return await self._write_explanations(user_id, pairs, usage)

    async def _write_explanations(
        self,
        user_id: str,
        pairs: list[explain_pb2.ExplainPair],
        usage: Usage,
        method: explain_pb2.Method = explain_pb2.METHOD_RECGPT_V1,
        situation: Mapping[str, str] | None = None,
    ) -> tuple[int, bool]:
        """One Explain call that writes the pairs' texts (the LLM for those not cached): how many came back,
        and whether the template wrote some."""
        explained = await self.stubs.explain.Explain(
            explain_pb2.ExplainRequest(
                user_id=user_id, pairs=pairs, method=method, situation=situation, cache_only=False
            ),
            timeout=self.settings.llm_call_deadline_s,
        )
        usage.add(explained.usage)
        fallback = any(explanation.fallback for explanation in explained.explanations)
        return len(explained.explanations), fallback

    async def _tag_route_pairs(
        self, user_id: str, tags: Sequence[common_pb2.Tag]
    ) -> list[explain_pb2.ExplainPair]:
        """The (interest, item) pairs of the user's top tag-route items, the ones serving will explain."""
        if not tags or self.settings.explain_items == 0:
            return []
        found = await self.stubs.retrieval.Search(
            retrieval_pb2.SearchRequest(
                tags=retrieval_pb2.TagQueries(tags=tags[: self.settings.tag_route_max_tags]),
                top_k=self.settings.explain_items,
                per_query_top_k=self.settings.tag_route_per_tag_k,
                exclude_seen_of_user=user_id,
            ),
            timeout=self.settings.retrieval_deadline_s,
        )
        return [
            explain_pb2.ExplainPair(interest=scored.interest, item_id=scored.item.item_id)
            for scored in found.items
            if scored.interest and scored.item.item_id
        ]


class ReasonedRefresher(ProfileRefresher):
    """Remembers why a user's refresh failed until asked: the job only counts failures, the refresh queue
    records the reason with a dead letter."""

    def __init__(self, stubs: ServiceStubs, settings: NearlineSettings) -> None:
        super().__init__(stubs, settings)
        self._reasons: dict[str, str] = {}

    async def refresh(self, user_id: str) -> Refreshed:
        try:
            return await super().refresh(user_id)
        except grpc.aio.AioRpcError as error:
            self._reasons[user_id] = f"{error.code().name}: {error.details()}"
            raise
        except Exception as error:
            self._reasons[user_id] = repr(error)
            raise

    def reason(self, user_id: str) -> str:
        """Why the user's last refresh failed, once (the entry is dropped)."""
        return self._reasons.pop(user_id, "the profile could not be read or stored (see the worker's log)")
