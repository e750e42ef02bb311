"""The non-LLM baseline: collaborative and content routes through retrieval, fused and filtered.

Redis (the user's recent items) and the collaborative route run in parallel; the content route needs the
recent items as its queries, so it starts when Redis answers. Every call has its own deadline, cut to what is
left of the request's, and a route that fails or runs late is left out and named in `degraded`. When every
retrieval route failed, the gateway's last-resort page of popular items answers instead.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Collection

from gateway.pipelines.base import PipelineUnavailable, Recommendation
from gateway.pipelines.calls import (
    DEP_DEADLINE,
    DEP_RETRIEVAL,
    RouteCalls,
    note,
    popular_only,
    retrieval_failed,
)
from gateway.pipelines.last_resort import LastResortPage
from gateway.schemas import RecommendedItem, RecommendRequest
from gateway.settings import GatewaySettings
from recgpt.retrieval.v1 import retrieval_pb2
from recgpt_domain.fusion import Candidate, RouteItems, fuse

COLLABORATIVE = "collaborative"
CONTENT = "content"
POPULAR = "popular"
# Retrieval never needs to return more than this per route.
MAX_TOP_K = 500

CollaborativeCall = Awaitable[retrieval_pb2.CollaborativeResponse | None]


def candidates_asked(request: RecommendRequest, settings: GatewaySettings) -> int:
    """Candidates asked of each route: enough that filtering still leaves `n`."""
    return min(request.n * settings.candidate_multiplier + settings.candidate_margin, MAX_TOP_K)


class BaselinePipeline:
    name = "baseline"

    def __init__(self, calls: RouteCalls, last_resort: LastResortPage, settings: GatewaySettings) -> None:
        self.calls = calls
        self.last_resort = last_resort
        self.settings = settings

    async def recommend(self, request: RecommendRequest) -> Recommendation:
        deadline = asyncio.get_running_loop().time() + self.settings.request_deadline_s
        return await self.serve(request, deadline, [])

    async def serve(
        self,
        request: RecommendRequest,
        deadline: float,
        degraded: list[str],
        collaborative_call: CollaborativeCall | None = None,
    ) -> Recommendation:
        """The baseline under a deadline set by the caller, reusing its collaborative call if it made one."""
        calls = self.calls
        user_id = request.user_id
        top_k = candidates_asked(request, self.settings)
        if collaborative_call is None:
            collaborative_call = calls.collaborative(user_id, top_k, deadline, degraded)
        collaborative_future = asyncio.ensure_future(collaborative_call)
        try:
            recent = await calls.recent(user_id, deadline, degraded)
            recent_ids = [interaction.item_id for interaction in recent or ()]
            content = (
                await calls.content(user_id, recent_ids, top_k, deadline, degraded) if recent_ids else None
            )
            collaborative = await collaborative_future
        finally:
            collaborative_future.cancel()

        cold_start = recent == [] or (collaborative is not None and collaborative.cold_start)
        routes: list[RouteItems] = []
        if collaborative is not None:
            route = POPULAR if cold_start or popular_only(collaborative) else COLLABORATIVE
            routes.append(RouteItems(route, self.settings.collaborative_weight, collaborative.items))
        if content is not None:
            routes.append(RouteItems(CONTENT, self.settings.content_weight, content.items))
        # Retrieval already leaves seen items out; the check below is a guard, so it looks only at the
        # best candidates (as many as one route was asked for) to keep Redis work per request small.
        candidates = fuse(routes, exclude=set(recent_ids))[:top_k]
        if not candidates and retrieval_failed(degraded):
            candidates = self.from_last_resort(set(recent_ids), top_k, degraded)
        if recent_ids and candidates:
            candidates = await calls.unseen(user_id, candidates, deadline, degraded)
        if not candidates and degraded:
            raise PipelineUnavailable(f"no route could answer ({', '.join(degraded)})", degraded)
        return Recommendation(
            items=[response_item(candidate) for candidate in candidates[: request.n]],
            cold_start=cold_start,
            degraded=degraded,
        )

    def from_last_resort(self, exclude: Collection[str], top_k: int, degraded: list[str]) -> list[Candidate]:
        """The last-resort page's items (named "retrieval" in `degraded`); empty when none is held yet."""
        if not self.last_resort.held:
            return []
        note(DEP_RETRIEVAL, degraded)
        return fuse([RouteItems(POPULAR, 1.0, self.last_resort.items)], exclude)[:top_k]

    def out_of_time(self, request: RecommendRequest) -> Recommendation:
        """What a request whose pipeline ran past the deadline answers: the last-resort page, else a 503."""
        degraded: list[str] = []
        note(DEP_DEADLINE, degraded)
        candidates = self.from_last_resort((), request.n, degraded)
        if not candidates:
            raise PipelineUnavailable("request deadline exceeded", degraded)
        return Recommendation(items=[response_item(c) for c in candidates], degraded=degraded)


def response_item(candidate: Candidate, explanation: str | None = None) -> RecommendedItem:
    item = candidate.item
    return RecommendedItem(
        item_id=item.item_id,
        title=item.title,
        score=round(candidate.score, 6),
        route=candidate.route,
        category=item.category_path[-1] if item.category_path else "",
        brand=item.brand,
        interest=candidate.interest or None,
        tag=candidate.tag or None,
        explanation=explanation,
    )
