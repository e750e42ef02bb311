"""RecGPT-V1 online: the user's LLM profile (precomputed near-line) drives a tag route fused with the
collaborative one, and cached explanations say why each item fits. Nothing here calls an LLM.

The collaborative route starts with the profile read, since both the V1 answer and the baseline need it. A
miss (or a Redis failure) serves the baseline at once and, on a miss, queues the user for a profile refresh
when the platform knows them (they have behaviour to mine).
A hit fuses `beta * collaborative + (1 - beta) * tag`; a failed route leaves the other to answer alone.
"""

from __future__ import annotations

import asyncio
import logging
import time

from experiments import request_params
from gateway.pipelines.base import PipelineUnavailable, Recommendation
from gateway.pipelines.baseline import (
    COLLABORATIVE,
    POPULAR,
    BaselinePipeline,
    candidates_asked,
    response_item,
)
from gateway.pipelines.calls import (
    DEP_PROFILE,
    REDIS_ERRORS,
    SERVICE,
    RouteCalls,
    budget,
    degrade,
    popular_only,
    read_preferences,
    retrieval_failed,
    towers_fusion,
)
from gateway.pipelines.explanations import Explainer
from gateway.pipelines.live_judge import LiveJudge
from gateway.schemas import ProfileState, RecommendRequest
from gateway.settings import GatewaySettings
from recgpt.common.v1 import common_pb2
from recgpt.retrieval.v1 import retrieval_pb2
from recgpt_domain.fusion import RouteItems, fuse
from recgpt_domain.profile_store import METHOD_V1, ProfileStore, UserProfile
from recgpt_domain.refresh_queue import EnqueueOutcome, RefreshQueue
from recgpt_domain.tag_route import tag_queries
from recgpt_serving import metrics

log = logging.getLogger(__name__)

TAG = "tag"
PROFILE_CACHE = "profile"
# Refresh outcomes beside the queue's own: a user without behaviour, and a Redis failure.
UNKNOWN_USER = "unknown_user"
REFRESH_FAILED = "failed"


class RecGptV1Pipeline:
    name = METHOD_V1

    def __init__(
        self,
        calls: RouteCalls,
        profiles: ProfileStore,
        refresh_queue: RefreshQueue,
        baseline: BaselinePipeline,
        explainer: Explainer,
        judge: LiveJudge,
        settings: GatewaySettings,
    ) -> None:
        self.calls = calls
        self.profiles = profiles
        self.refresh_queue = refresh_queue
        self.baseline = baseline
        self.explainer = explainer
        self.judge = judge
        self.settings = settings
        self._profile_timer = metrics.DEPENDENCY_DURATION.labels(SERVICE, "redis", "profile")
        self._refresh_timer = metrics.DEPENDENCY_DURATION.labels(SERVICE, "redis", "request_refresh")
        self._lookups = {
            result: metrics.CACHE_REQUESTS.labels(PROFILE_CACHE, result)
            for result in ("hit", "miss", "error")
        }
        self._refreshes = {
            outcome: metrics.PROFILE_REFRESHES.labels(outcome)
            for outcome in (*EnqueueOutcome, UNKNOWN_USER, REFRESH_FAILED)
        }

    async def recommend(self, request: RecommendRequest) -> Recommendation:
        deadline = asyncio.get_running_loop().time() + self.settings.request_deadline_s
        user_id = request.user_id
        degraded: list[str] = []
        top_k = candidates_asked(request, self.settings)
        # The baseline's routes (one retrieval call): the fused answer uses the collaborative one.
        routes = asyncio.ensure_future(self.calls.user_routes(user_id, top_k, deadline, degraded))
        try:
            profile, state = await self._profile(user_id, deadline, degraded)
            tags = tag_queries(profile, self.settings.tag_route_max_tags) if profile is not None else []
            if tags and self.settings.recgpt_v1_beta < 1:
                result = await self._fused(request, tags, top_k, deadline, degraded, routes)
            elif state == "miss":
                # The refresh is queued beside the baseline, not before it: the answer does not wait.
                refresh = asyncio.ensure_future(self._request_refresh(user_id, deadline))
                try:
                    result = await self.baseline.serve(request, deadline, degraded, routes)
                finally:
                    await refresh
            else:
                result = await self.baseline.serve(request, deadline, degraded, routes)
        finally:
            routes.cancel()
        result.profile = state
        return result

    async def _profile(
        self, user_id: str, deadline: float, degraded: list[str]
    ) -> tuple[UserProfile | None, ProfileState]:
        start = time.perf_counter()
        try:
            async with asyncio.timeout(budget(deadline, self.settings.redis_deadline_s)):
                profile = await self.profiles.get(user_id, METHOD_V1)
        except REDIS_ERRORS as error:
            self._lookups["error"].inc()
            degrade(DEP_PROFILE, "profile", error, degraded)
            return None, "unavailable"
        finally:
            self._profile_timer.observe(time.perf_counter() - start)
        self._lookups["hit" if profile is not None else "miss"].inc()
        if profile is None:
            return None, "miss"
        # Served all the same (it expires within hours), but never passed off as the LLM's.
        return profile, "fallback" if profile.fallback else "hit"

    async def _request_refresh(self, user_id: str, deadline: float) -> None:
        """Queues the user for the near-line job; a failure is logged and counted, never raised.

        Only users with behaviour are queued: there is nothing to mine for the others, and a flood of
        unknown ids must not fill the queue. The enqueue itself is one atomic round trip."""
        start = time.perf_counter()
        try:
            async with asyncio.timeout(budget(deadline, self.settings.redis_deadline_s)):
                if await self.calls.store.known(user_id):
                    outcome: str = await self.refresh_queue.enqueue(user_id)
                else:
                    outcome = UNKNOWN_USER
        except REDIS_ERRORS as error:
            self._refreshes[REFRESH_FAILED].inc()
            log.warning("could not queue a profile refresh", extra={"reason": repr(error)})
            return
        finally:
            self._refresh_timer.observe(time.perf_counter() - start)
        self._refreshes[outcome].inc()

    def _beta(self, routes: retrieval_pb2.UserRoutesResponse | None) -> float:
        """An experiment arm's beta for this request, else the answering model's own (chosen on its
        validation slice) when the learned route answered, else the setting."""
        arm_beta = request_params.current().beta
        if arm_beta is not None:
            return arm_beta
        fusion = towers_fusion(routes, self.settings)
        return self.settings.recgpt_v1_beta if fusion is None else fusion.beta

    async def _fused(
        self,
        request: RecommendRequest,
        tags: list[common_pb2.Tag],
        top_k: int,
        deadline: float,
        degraded: list[str],
        routes_call: asyncio.Future[retrieval_pb2.UserRoutesResponse | None],
    ) -> Recommendation:
        user_id = request.user_id
        tagged = await self.calls.tags(user_id, tags, top_k, deadline, degraded)
        collaborative = await routes_call
        cold_start = collaborative is not None and collaborative.cold_start
        beta = self._beta(collaborative)
        routes: list[RouteItems] = []
        if collaborative is not None:
            route = POPULAR if popular_only(collaborative) else COLLABORATIVE
            routes.append(RouteItems(route, beta, collaborative.collaborative))
        if tagged is not None:
            routes.append(RouteItems(TAG, 1 - beta, tagged.items))
        if len(routes) == 1:
            routes[0].weight = 1.0  # the other route failed: this one answers alone, whatever beta says
        candidates = fuse(routes, exclude=())[:top_k]
        if not candidates and retrieval_failed(degraded):
            candidates = self.baseline.from_last_resort((), top_k, degraded)
        if candidates:
            candidates = await self.calls.unseen(user_id, candidates, deadline, degraded)
        if not candidates and degraded:
            raise PipelineUnavailable(f"no route could answer ({', '.join(degraded)})", degraded)
        page = candidates[: request.n]
        texts = await self.explainer.texts(user_id, page, deadline, degraded)
        if texts:
            self.judge.maybe_sample(
                user_id,
                [(c.interest, c.item, texts[c.item.item_id]) for c in page if c.item.item_id in texts],
            )
        return Recommendation(
            items=[response_item(c, texts.get(c.item.item_id)) for c in page],
            cold_start=cold_start,
            degraded=degraded,
            preferences=read_preferences(collaborative),
        )
