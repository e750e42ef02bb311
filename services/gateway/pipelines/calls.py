"""The dependency calls pipelines share: Redis reads and retrieval routes, each under its own deadline.

Every call's deadline is its own cap, cut to what is left of the request's; a call that fails or runs late
answers None (or its input, for the seen-items guard), is counted and named in `degraded`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence

import grpc
import redis.exceptions

from gateway.settings import GatewaySettings
from recgpt.common.v1 import common_pb2
from recgpt.retrieval.v1 import retrieval_pb2, retrieval_pb2_grpc
from recgpt_domain.behaviour_store import BehaviourStore
from recgpt_domain.fusion import Candidate
from recgpt_domain.preferences import Preferences, Versioned
from recgpt_serving import metrics

log = logging.getLogger(__name__)

SERVICE = "gateway"
# Dependency names reported in `degraded` and in recgpt_degradations_total (a bounded set); the HTTP
# contract (schemas.RecommendResponse) says what each one means.
DEP_REDIS = "redis"
DEP_PROFILE = "redis.profile"
DEP_BEHAVIOUR = "redis.behaviour"
DEP_RETRIEVAL = "retrieval"
DEP_COLLABORATIVE = "retrieval.collaborative"
DEP_CONTENT = "retrieval.content"
DEP_TAG = "retrieval.tag"
DEP_EXPLAIN = "explain"
DEP_DEADLINE = "deadline"
DEPENDENCIES = (
    DEP_REDIS,
    DEP_PROFILE,
    DEP_BEHAVIOUR,
    DEP_RETRIEVAL,
    DEP_COLLABORATIVE,
    DEP_CONTENT,
    DEP_TAG,
    DEP_EXPLAIN,
    DEP_DEADLINE,
)
# Below this, a call cannot finish anyway: it is not started.
MIN_BUDGET_S = 0.002

REDIS_ERRORS = (TimeoutError, redis.exceptions.RedisError, OSError, ValueError)
GRPC_ERRORS = (grpc.aio.AioRpcError, TimeoutError)


def budget(deadline: float, cap: float) -> float:
    """Seconds a call may take: its own cap, cut to what is left of the request's deadline."""
    left = deadline - asyncio.get_running_loop().time()
    if left < MIN_BUDGET_S:
        raise TimeoutError("request deadline spent")
    return min(cap, left)


_DEGRADATIONS = {name: metrics.DEGRADATIONS.labels(SERVICE, name) for name in DEPENDENCIES}


def failure_reason(error: BaseException) -> str:
    """A bounded label for why a call failed: the gRPC status name, timeout, or error."""
    if isinstance(error, grpc.aio.AioRpcError):
        return str(error.code().name)
    return "timeout" if isinstance(error, TimeoutError) else "error"


def note(dependency: str, degraded: list[str]) -> None:
    """Names the dependency in `degraded` (once) and counts the degraded answer."""
    if dependency not in degraded:
        degraded.append(dependency)
    _DEGRADATIONS[dependency].inc()


def degrade(dependency: str, call: str, error: BaseException, degraded: list[str]) -> None:
    """Names the failed dependency in `degraded`, counts it by reason and logs why."""
    note(dependency, degraded)
    reason = failure_reason(error)
    metrics.DEPENDENCY_FAILURES.labels(SERVICE, dependency, reason).inc()
    log.warning(
        "dependency failed, answering without it",
        extra={"dependency": dependency, "call": call, "reason": reason},
    )


RetrievalAnswer = (
    retrieval_pb2.SearchResponse | retrieval_pb2.CollaborativeResponse | retrieval_pb2.UserRoutesResponse
)


def note_retrieval_degradations(answer: RetrievalAnswer, degraded: list[str]) -> None:
    """Retrieval answered without the user's behaviour (its Redis failed): the answer says so too."""
    if retrieval_pb2.DEGRADATION_USER_BEHAVIOUR in answer.degraded:
        note(DEP_BEHAVIOUR, degraded)


def popular_only(answer: retrieval_pb2.CollaborativeResponse | retrieval_pb2.UserRoutesResponse) -> bool:
    """The collaborative route answered with popular items: a new user, or one whose history was unread."""
    return answer.cold_start or retrieval_pb2.DEGRADATION_USER_BEHAVIOUR in answer.degraded


def read_preferences(answer: retrieval_pb2.UserRoutesResponse | None) -> Versioned | None:
    """The feed preferences retrieval read with the behaviour, or None when it could not read them."""
    if answer is None or not answer.preferences_read:
        return None
    return Versioned(preferences=Preferences.from_pb(answer.preferences), version=answer.preferences_version)


def towers_fusion(
    answer: retrieval_pb2.UserRoutesResponse | None, settings: GatewaySettings
) -> retrieval_pb2.TowersFusion | None:
    """The weights the answering model chose on its validation slice: set when the learned route answered
    and the gateway fuses with them (`towers_fusion`), else None (the settings' weights apply)."""
    if answer is None or not settings.towers_fusion or not answer.HasField("towers_fusion"):
        return None
    return answer.towers_fusion


def retrieval_failed(degraded: list[str]) -> bool:
    """A retrieval route failed for this request (so an empty page may be retrieval's absence)."""
    return any(name.startswith(f"{DEP_RETRIEVAL}.") for name in degraded)


class RouteCalls:
    """The user's baseline routes (one call), the tag route, and the seen-items guard."""

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
        self._seen_timer = duration.labels(SERVICE, DEP_REDIS, "seen")
        self._user_routes_timer = duration.labels(SERVICE, "retrieval", "UserRoutes")
        self._search_timer = duration.labels(SERVICE, "retrieval", "Search")

    async def user_routes(
        self, user_id: str, top_k: int, deadline: float, degraded: list[str]
    ) -> retrieval_pb2.UserRoutesResponse | None:
        """The collaborative and content routes in one retrieval call, which reads the user's behaviour
        (recent items and seen set) in one Redis round trip and leaves the seen items out of both routes."""
        # The user's feed preferences come in the same Redis round trip (the gateway reads none itself).
        request = retrieval_pb2.UserRoutesRequest(
            user_id=user_id, top_k=top_k, recent_items=self.settings.recent_items, with_preferences=True
        )
        start = time.perf_counter()
        try:
            response: retrieval_pb2.UserRoutesResponse = await self.retrieval.UserRoutes(
                request, timeout=budget(deadline, self.settings.retrieval_deadline_s)
            )
        except GRPC_ERRORS as error:
            # The call carried both routes: both are missing from the answer.
            degrade(DEP_COLLABORATIVE, "UserRoutes", error, degraded)
            note(DEP_CONTENT, degraded)
            return None
        finally:
            self._user_routes_timer.observe(time.perf_counter() - start)
        note_retrieval_degradations(response, degraded)
        return response

    async def tags(
        self,
        user_id: str,
        tags: Sequence[common_pb2.Tag],
        top_k: int,
        deadline: float,
        degraded: list[str],
    ) -> retrieval_pb2.SearchResponse | None:
        """Items for the profile's tags, each tag bringing at most `tag_route_per_tag_k`."""
        request = retrieval_pb2.SearchRequest(
            tags=retrieval_pb2.TagQueries(tags=tags),
            top_k=top_k,
            per_query_top_k=self.settings.tag_route_per_tag_k,
            exclude_seen_of_user=user_id,
        )
        return await self._search(request, DEP_TAG, deadline, degraded)

    async def _search(
        self, request: retrieval_pb2.SearchRequest, dependency: str, deadline: float, degraded: list[str]
    ) -> retrieval_pb2.SearchResponse | None:
        start = time.perf_counter()
        try:
            response: retrieval_pb2.SearchResponse = await self.retrieval.Search(
                request, timeout=budget(deadline, self.settings.retrieval_deadline_s)
            )
        except GRPC_ERRORS as error:
            degrade(dependency, "Search", error, degraded)
            return None
        finally:
            self._search_timer.observe(time.perf_counter() - start)
        note_retrieval_degradations(response, degraded)
        return response

    async def unseen(
        self, user_id: str, candidates: list[Candidate], deadline: float, degraded: list[str]
    ) -> list[Candidate]:
        """Drops items the user has touched: retrieval should have, this makes sure (one round trip)."""
        start = time.perf_counter()
        try:
            async with asyncio.timeout(budget(deadline, self.settings.redis_deadline_s)):
                flags = await self.store.seen_among(user_id, [c.item.item_id for c in candidates])
        except REDIS_ERRORS as error:
            # The recent items are already out; older ones may slip through, and the response says so.
            degrade(DEP_REDIS, "seen", error, degraded)
            return candidates
        finally:
            self._seen_timer.observe(time.perf_counter() - start)
        return [candidate for candidate, seen in zip(candidates, flags, strict=True) if not seen]
