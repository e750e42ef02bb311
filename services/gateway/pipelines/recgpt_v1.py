"""RecGPT-V1 online: the user's profile (precomputed near-line) drives a tag route fused on top of the
baseline's own routes, and cached explanations say why each item fits. Nothing here calls an LLM.

The baseline's routes call starts with the profile read, since both the V1 answer and the baseline need it. A
miss (or a Redis failure) serves the baseline at once and, on a miss, queues the user for a profile refresh
when the platform knows them (they have behaviour to mine); the near-line job writes the statistics' tags
(frequent categories) as the profile when its LLM fails, so a fallback profile still feeds the tag route.
A hit fuses `beta * (the baseline's fusion) + (1 - beta) * tag`: beta = 1 (the tag route chosen no weight on
validation) serves the baseline's own page, so V1 cannot lose to the baseline by construction. A failed tag
route leaves the baseline's routes; failed baseline routes leave the tag route alone.
"""

from __future__ import annotations

import asyncio
import logging
import time

from experiments import request_params
from gateway.pipelines.base import PipelineUnavailable, Recommendation
from gateway.pipelines.baseline import BaselinePipeline, candidates_asked, response_item
from gateway.pipelines.calls import (
    DEP_PROFILE,
    REDIS_ERRORS,
    SERVICE,
    RouteCalls,
    budget,
    degrade,
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
from recgpt_domain.fusion import RouteItems, fuse, over_baseline
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
            if profile is not None and tags and self.settings.recgpt_v1_beta < 1:
                result = await self._fused(request, profile, tags, top_k, deadline, degraded, routes)
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
        """The baseline's share beside the tag route: an experiment arm's for this request, else the
        answering model's own (chosen on its validation slice) when the learned route answered, else the
        setting."""
        arm_beta = request_params.current().beta
        if arm_beta is not None:
            return arm_beta
        fusion = towers_fusion(routes, self.settings)
        return self.settings.recgpt_v1_beta if fusion is None else fusion.beta

    async def _fused(
        self,
        request: RecommendRequest,
        profile: UserProfile,
        tags: list[common_pb2.Tag],
        top_k: int,
        deadline: float,
        degraded: list[str],
        routes_call: asyncio.Future[retrieval_pb2.UserRoutesResponse | None],
    ) -> Recommendation:
        user_id = request.user_id
        # Beside the routes call already running: beta is known only once the routes answer.
        tag_call = asyncio.ensure_future(self.calls.tags(user_id, tags, top_k, deadline, degraded))
        try:
            answer = await routes_call
            beta = self._beta(answer)
            if beta >= 1:
                return await self.baseline.serve(request, deadline, degraded, routes_call)
            tagged = await tag_call
        finally:
            tag_call.cancel()
        routes = self.baseline.routes(answer) if answer is not None else []
        scaled, tag_weight = over_baseline([route.weight for route in routes], beta)
        for route, weight in zip(routes, scaled, strict=True):
            route.weight = weight
        if tagged is not None:
            # Alone (weight 1) when the baseline's routes failed, whatever beta says.
            routes.append(RouteItems(TAG, tag_weight if answer is not None else 1.0, tagged.items))
        recent_ids = set(answer.recent_item_ids) if answer is not None else set()
        candidates = fuse(routes, exclude=recent_ids)[:top_k]
        if not candidates and retrieval_failed(degraded):
            candidates = self.baseline.from_last_resort((), top_k, degraded)
        if candidates:
            candidates = await self.calls.unseen(user_id, candidates, deadline, degraded)
        if not candidates and degraded:
            raise PipelineUnavailable(f"no route could answer ({', '.join(degraded)})", degraded)
        page = candidates[: request.n]
        texts = await self.explainer.texts(user_id, page, deadline, degraded, profile)
        if texts:
            self.judge.maybe_sample(
                user_id,
                [(c.interest, c.item, texts[c.item.item_id]) for c in page if c.item.item_id in texts],
            )
        return Recommendation(
            items=[response_item(c, texts.get(c.item.item_id)) for c in page],
            cold_start=answer is not None and answer.cold_start,
            degraded=degraded,
            preferences=read_preferences(answer),
        )
