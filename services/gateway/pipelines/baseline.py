"""The non-LLM baseline: collaborative and content routes through retrieval, fused.

Both routes come from one retrieval call (UserRoutes), which reads the user's recent items and seen set in
one Redis round trip and leaves seen items out of both; the gateway itself reads nothing from Redis here.
The call has its own deadline, cut to what is left of the request's; when it fails or runs late, both
routes are named in `degraded` and the gateway's last-resort page of popular items answers instead.
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
    read_preferences,
    retrieval_failed,
    towers_fusion,
)
from gateway.pipelines.last_resort import LastResortPage
from gateway.schemas import RecommendedItem, RecommendRequest
from gateway.settings import GatewaySettings
from recgpt.retrieval.v1 import retrieval_pb2
from recgpt_domain.fusion import Candidate, RouteItems, fuse

COLLABORATIVE = "collaborative"
CONTENT = "content"
# Co-occurrence beside the learned route (which answers "collaborative" then), when its artefact weighs it.
COOCCURRENCE = "cooccurrence"
POPULAR = "popular"
# Retrieval never needs to return more than this per route.
MAX_TOP_K = 500

RoutesCall = Awaitable[retrieval_pb2.UserRoutesResponse | None]


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
        routes_call: RoutesCall | None = None,
    ) -> Recommendation:
        """The baseline under a deadline set by the caller, reusing its routes call if it made one."""
        top_k = candidates_asked(request, self.settings)
        if routes_call is None:
            routes_call = self.calls.user_routes(request.user_id, top_k, deadline, degraded)
        answer = await routes_call
        recent_ids = set(answer.recent_item_ids) if answer is not None else set()
        routes = self.routes(answer) if answer is not None else []
        # Retrieval left the user's seen items out of both routes; the recent ones are a guard.
        candidates = fuse(routes, exclude=recent_ids)[:top_k]
        if not candidates and retrieval_failed(degraded):
            candidates = self.from_last_resort(recent_ids, top_k, degraded)
        if not candidates and degraded:
            raise PipelineUnavailable(f"no route could answer ({', '.join(degraded)})", degraded)
        return Recommendation(
            items=[response_item(candidate) for candidate in candidates[: request.n]],
            cold_start=answer is not None and answer.cold_start,
            degraded=degraded,
            preferences=read_preferences(answer),
        )

    def routes(self, answer: retrieval_pb2.UserRoutesResponse) -> list[RouteItems]:
        """The baseline's weighted routes from one UserRoutes answer (recgpt-v1 adds its tag route)."""
        route = POPULAR if popular_only(answer) else COLLABORATIVE
        collaborative, content, cooccurrence = self.weights(answer)
        routes = [RouteItems(route, collaborative, answer.collaborative)]
        if answer.content:
            routes.append(RouteItems(CONTENT, content, answer.content))
        if answer.cooccurrence:
            routes.append(RouteItems(COOCCURRENCE, cooccurrence, answer.cooccurrence))
        return routes

    def weights(self, answer: retrieval_pb2.UserRoutesResponse) -> tuple[float, float, float]:
        """Collaborative, content and co-occurrence weights: the answering model's own (chosen on its
        validation slice) when the learned route answered, else the settings' (no co-occurrence beside
        a collaborative route that is co-occurrence already)."""
        fusion = towers_fusion(answer, self.settings)
        if (
            fusion is not None
            and fusion.collaborative_weight + fusion.content_weight + fusion.cooccurrence_weight > 0
        ):
            return fusion.collaborative_weight, fusion.content_weight, fusion.cooccurrence_weight
        return self.settings.collaborative_weight, self.settings.content_weight, 0.0

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
