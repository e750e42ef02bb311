"""The non-LLM baseline: collaborative and content routes through retrieval, fused and filtered.

Redis (the user's recent items) and the collaborative route run in parallel; the content route needs the
recent items as its queries, so it starts when Redis answers. Every call has its own deadline, cut to what is
left of the request's, and a route that fails or runs late is left out and named in `degraded`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence

import grpc
import redis.exceptions

from gateway.pipelines.base import PipelineUnavailable, Recommendation
from gateway.pipelines.fusion import Candidate, RouteItems, fuse
from gateway.schemas import RecommendedItem, RecommendRequest
from gateway.settings import GatewaySettings
from recgpt.retrieval.v1 import retrieval_pb2, retrieval_pb2_grpc
from recgpt_runtime import metrics
from recgpt_runtime.behaviour_store import BehaviourStore
from recgpt_runtime.catalogue import Interaction

log = logging.getLogger(__name__)

SERVICE = "gateway"
COLLABORATIVE = "collaborative"
CONTENT = "content"
POPULAR = "popular"
# Dependency names reported in `degraded` and in recgpt_degradations_total.
DEP_REDIS = "redis"
DEP_COLLABORATIVE = "retrieval.collaborative"
DEP_CONTENT = "retrieval.content"
# Retrieval never needs to return more than this per route.
MAX_TOP_K = 500
# Below this, a call cannot finish anyway: it is not started.
MIN_BUDGET_S = 0.002

_REDIS_ERRORS = (TimeoutError, redis.exceptions.RedisError, OSError, ValueError)


class BaselinePipeline:
    name = "baseline"

    def __init__(
        self,
        retrieval: retrieval_pb2_grpc.RetrievalServiceStub,
        store: BehaviourStore,
        settings: GatewaySettings,
    ) -> None:
        self.retrieval = retrieval
        self.store = store
        self.settings = settings
        # Metric children resolved once, not per request.
        duration = metrics.DEPENDENCY_DURATION
        self._recent_timer = duration.labels(SERVICE, DEP_REDIS, "recent")
        self._seen_timer = duration.labels(SERVICE, DEP_REDIS, "seen")
        self._collaborative_timer = duration.labels(SERVICE, "retrieval", "Collaborative")
        self._search_timer = duration.labels(SERVICE, "retrieval", "Search")
        self._degradations = {
            name: metrics.DEGRADATIONS.labels(SERVICE, name)
            for name in (DEP_REDIS, DEP_COLLABORATIVE, DEP_CONTENT)
        }

    async def recommend(self, request: RecommendRequest) -> Recommendation:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settings.request_deadline_s
        user_id = request.user_id
        top_k = min(
            request.n * self.settings.candidate_multiplier + self.settings.candidate_margin, MAX_TOP_K
        )
        degraded: list[str] = []
        collaborative_call = asyncio.ensure_future(self._collaborative(user_id, top_k, deadline, degraded))
        try:
            recent = await self._recent(user_id, deadline, degraded)
            recent_ids = [interaction.item_id for interaction in recent or ()]
            content = (
                await self._content(user_id, recent_ids, top_k, deadline, degraded) if recent_ids else None
            )
            collaborative = await collaborative_call
        finally:
            collaborative_call.cancel()

        cold_start = recent == [] or (collaborative is not None and collaborative.cold_start)
        routes: list[RouteItems] = []
        if collaborative is not None:
            route = POPULAR if cold_start else COLLABORATIVE
            routes.append(RouteItems(route, self.settings.collaborative_weight, collaborative.items))
        if content is not None:
            routes.append(RouteItems(CONTENT, self.settings.content_weight, content.items))
        # Retrieval already leaves seen items out; the check below is a guard, so it looks only at the
        # best candidates (as many as one route was asked for) to keep Redis work per request small.
        candidates = fuse(routes, exclude=set(recent_ids))[:top_k]
        if recent_ids and candidates:
            candidates = await self._unseen(user_id, candidates, deadline, degraded)
        if not candidates and degraded:
            raise PipelineUnavailable(f"no route could answer ({', '.join(degraded)})", degraded)
        return Recommendation(
            items=[_to_response_item(candidate) for candidate in candidates[: request.n]],
            cold_start=cold_start,
            degraded=degraded,
        )

    async def _recent(self, user_id: str, deadline: float, degraded: list[str]) -> list[Interaction] | None:
        """The user's recent interactions, newest first; None when Redis failed."""
        start = time.perf_counter()
        try:
            async with asyncio.timeout(self._budget(deadline, self.settings.redis_deadline_s)):
                return await self.store.recent(user_id, self.settings.recent_items)
        except _REDIS_ERRORS as error:
            self._degrade(DEP_REDIS, "recent", error, degraded)
            return None
        finally:
            self._recent_timer.observe(time.perf_counter() - start)

    async def _collaborative(
        self, user_id: str, top_k: int, deadline: float, degraded: list[str]
    ) -> retrieval_pb2.CollaborativeResponse | None:
        request = retrieval_pb2.CollaborativeRequest(
            user_id=user_id, top_k=top_k, recent_items=self.settings.recent_items
        )
        start = time.perf_counter()
        try:
            response: retrieval_pb2.CollaborativeResponse = await self.retrieval.Collaborative(
                request, timeout=self._budget(deadline, self.settings.retrieval_deadline_s)
            )
            return response
        except (grpc.aio.AioRpcError, TimeoutError) as error:
            self._degrade(DEP_COLLABORATIVE, "Collaborative", error, degraded)
            return None
        finally:
            self._collaborative_timer.observe(time.perf_counter() - start)

    async def _content(
        self,
        user_id: str,
        recent_ids: Sequence[str],
        top_k: int,
        deadline: float,
        degraded: list[str],
    ) -> retrieval_pb2.SearchResponse | None:
        """Items like the user's recent ones; retrieval leaves out what the user has seen."""
        request = retrieval_pb2.SearchRequest(
            items=retrieval_pb2.ItemQueries(item_ids=recent_ids),
            top_k=top_k,
            exclude_seen_of_user=user_id,
        )
        start = time.perf_counter()
        try:
            response: retrieval_pb2.SearchResponse = await self.retrieval.Search(
                request, timeout=self._budget(deadline, self.settings.retrieval_deadline_s)
            )
            return response
        except (grpc.aio.AioRpcError, TimeoutError) as error:
            self._degrade(DEP_CONTENT, "Search", error, degraded)
            return None
        finally:
            self._search_timer.observe(time.perf_counter() - start)

    async def _unseen(
        self, user_id: str, candidates: list[Candidate], deadline: float, degraded: list[str]
    ) -> list[Candidate]:
        """Drops items the user has touched: retrieval should have, this makes sure (one round trip)."""
        start = time.perf_counter()
        try:
            async with asyncio.timeout(self._budget(deadline, self.settings.redis_deadline_s)):
                flags = await self.store.client.smismember(
                    self.store.keys.seen(user_id), [c.item.item_id for c in candidates]
                )
        except _REDIS_ERRORS as error:
            # The recent items are already out; older ones may slip through, and the response says so.
            self._degrade(DEP_REDIS, "seen", error, degraded)
            return candidates
        finally:
            self._seen_timer.observe(time.perf_counter() - start)
        return [candidate for candidate, seen in zip(candidates, flags, strict=True) if not seen]

    def _budget(self, deadline: float, cap: float) -> float:
        """Seconds a call may take: its own cap, cut to what is left of the request's deadline."""
        left = deadline - asyncio.get_running_loop().time()
        if left < MIN_BUDGET_S:
            raise TimeoutError("request deadline spent")
        return min(cap, left)

    def _degrade(self, dependency: str, call: str, error: BaseException, degraded: list[str]) -> None:
        if dependency not in degraded:
            degraded.append(dependency)
        self._degradations[dependency].inc()
        reason = error.code().name if isinstance(error, grpc.aio.AioRpcError) else repr(error)
        log.warning(
            "dependency failed, answering without it",
            extra={"dependency": dependency, "call": call, "reason": reason},
        )


def _to_response_item(candidate: Candidate) -> RecommendedItem:
    item = candidate.item
    return RecommendedItem(
        item_id=item.item_id,
        title=item.title,
        score=round(candidate.score, 6),
        route=candidate.route,
        category=item.category_path[-1] if item.category_path else "",
        brand=item.brand,
    )
