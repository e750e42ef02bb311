"""The feed's work: read the preferences, parse the command, store the change atomically, plan the page.

Failure never loses a preference silently: either the change is stored (and the answer has its version),
or the answer is a 503 that says it was not. The command is untrusted text; it reaches only the parser, and
only this request's user's preferences change.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

import grpc
from redis.exceptions import RedisError

from gateway.feed.known import KnownPreferences
from gateway.feed.schemas import FeedCommandRequest, Part, PlannedTool, Timings
from gateway.settings import GatewaySettings
from recgpt.common.v1 import common_pb2
from recgpt.intent.v1 import intent_pb2, intent_pb2_grpc
from recgpt.retrieval.v1 import retrieval_pb2, retrieval_pb2_grpc
from recgpt_domain.preferences import Change, PreferenceConflict, Preferences, PreferenceStore, Versioned

log = logging.getLogger(__name__)

REDIS_ERRORS = (RedisError, OSError, TimeoutError)
# Redis briefly away: a few tries, spaced, before the answer says the change was not stored.
REDIS_ATTEMPTS = 3
REDIS_RETRY_S = 0.1


class FeedUnavailable(Exception):
    """A 503 (or another status) with the reason; `stored` says whether the preferences changed anyway."""

    def __init__(self, reason: str, status: int = 503) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


@dataclass
class CommandOutcome:
    stored: Versioned
    parsed: intent_pb2.ParseCommandResponse
    page: retrieval_pb2.PlanToolsResponse | None
    degraded: list[str]
    timings: Timings

    def parts(self) -> list[Part]:
        return [
            Part(
                span=p.span,
                kind=p.kind,
                source=p.source,
                polarity=p.polarity,
                value=p.value,
                resolution=p.resolution,
                note=p.note,
            )
            for p in self.parsed.parts
        ]

    def plan(self) -> list[PlannedTool]:
        if self.page is None:
            return []
        return [
            PlannedTool(tool=c.tool, arguments=dict(c.arguments), seconds=c.seconds) for c in self.page.plan
        ]


class FeedService:
    def __init__(
        self,
        store: PreferenceStore,
        intent: intent_pb2_grpc.IntentServiceStub | None,
        retrieval: retrieval_pb2_grpc.RetrievalServiceStub,
        settings: GatewaySettings,
    ) -> None:
        self.store = store
        self.intent = intent
        self.retrieval = retrieval
        self.settings = settings
        self.known = KnownPreferences(settings.feed_known_users)

    async def _redis(self, what: str, call: object) -> Versioned:
        """Runs a store call with its deadline, retried while Redis is briefly away; else a 503."""
        assert callable(call)
        for attempt in range(REDIS_ATTEMPTS):
            try:
                async with asyncio.timeout(self.settings.feed_redis_deadline_s):
                    result: Versioned = await call()
                    return result
            except REDIS_ERRORS as error:
                log.warning("preference memory unavailable", extra={"what": what, "error": repr(error)})
                if attempt + 1 < REDIS_ATTEMPTS:
                    await asyncio.sleep(REDIS_RETRY_S * (attempt + 1))
            except PreferenceConflict as error:
                raise FeedUnavailable(
                    f"{what}: {error}; nothing was changed, send the command again"
                ) from None
        raise FeedUnavailable(f"preference memory unavailable ({what}); nothing was changed, try again")

    async def read(self, user_id: str) -> Versioned:
        current = await self._redis("read", lambda: self.store.read(user_id))
        self.known.remember(user_id, current)
        return current

    async def reset(self, user_id: str) -> Versioned:
        change = Change(Preferences(), Preferences(), reset=True)
        current = await self._redis("reset", lambda: self.store.apply(user_id, change, "(reset)"))
        self.known.remember(user_id, current)
        return current

    async def command(self, request: FeedCommandRequest) -> CommandOutcome:
        if self.intent is None:
            raise FeedUnavailable("the feed's command parser (intent service) is not configured")
        started = time.perf_counter()
        timings = Timings()
        current = await self.read(request.user_id)
        timings.read = time.perf_counter() - started
        parsed = await self._parse(request, current.preferences)
        timings.parse = time.perf_counter() - started - timings.read
        timings.parse_rules, timings.parse_llm = parsed.rules_seconds, parsed.llm_seconds
        change = Change(
            added=Preferences.from_pb(parsed.added),
            removed=Preferences.from_pb(parsed.removed),
            reset=parsed.reset,
        )
        mark = time.perf_counter()
        stored = await self._redis("store", lambda: self.store.apply(request.user_id, change, request.text))
        self.known.remember(request.user_id, stored)
        timings.store = time.perf_counter() - mark
        mark = time.perf_counter()
        degraded: list[str] = []
        page = await self._plan(request, stored.preferences, degraded)
        timings.plan = time.perf_counter() - mark
        timings.total = time.perf_counter() - started
        return CommandOutcome(stored, parsed, page, degraded, timings)

    async def _parse(
        self, request: FeedCommandRequest, current: Preferences
    ) -> intent_pb2.ParseCommandResponse:
        assert self.intent is not None
        try:
            response: intent_pb2.ParseCommandResponse = await self.intent.ParseCommand(
                intent_pb2.ParseCommandRequest(
                    user_id=request.user_id,
                    text=request.text,
                    feed_item_ids=request.feed_item_ids,
                    current=current.to_pb(),
                ),
                timeout=self.settings.feed_parse_deadline_s,
            )
            return response
        except grpc.aio.AioRpcError as error:
            if error.code() == grpc.StatusCode.INVALID_ARGUMENT:
                raise FeedUnavailable(f"invalid command: {error.details()}", status=422) from None
            raise FeedUnavailable(
                f"command parser unavailable ({error.code().name}); nothing was changed, try again"
            ) from None

    async def _plan(
        self, request: FeedCommandRequest, preferences: Preferences, degraded: list[str]
    ) -> retrieval_pb2.PlanToolsResponse | None:
        try:
            response: retrieval_pb2.PlanToolsResponse = await self.retrieval.PlanTools(
                retrieval_pb2.PlanToolsRequest(
                    user_id=request.user_id,
                    preferences=preferences.to_pb(),
                    top_k=request.n,
                    exclude_item_ids=request.feed_item_ids,
                ),
                timeout=self.settings.feed_plan_deadline_s,
            )
        except grpc.aio.AioRpcError as error:
            raise FeedUnavailable(
                f"preferences stored, but no page: retrieval unavailable ({error.code().name}); "
                "ask for the next page again"
            ) from None
        if response.degraded:
            degraded.append("redis.behaviour")
        return response

    async def honour(
        self,
        user_id: str,
        n: int,
        items: list[common_pb2.ScoredItem],
        deadline_s: float,
        read_redis: bool = True,
        read_with_routes: Versioned | None = None,
    ) -> tuple[retrieval_pb2.PlanToolsResponse | None, str, bool]:
        """A variant's page re-planned under the user's preferences: (None, "", False) when they have
        none; (None, dependency, hard) when they could not be read or applied in time, `hard` saying whether
        hard constraints were known to be in force; (page, "redis.preferences.last_seen", hard) when the page
        honours the last-seen preferences. When Redis cannot answer (or `read_redis` is False:
        it just failed this request), the preferences this gateway last saw for the user stand in;
        `read_with_routes` (read by retrieval in the routes' round trip) spares the read."""
        current = read_with_routes
        if current is not None:
            self.known.remember(user_id, current)
        elif read_redis:
            try:
                async with asyncio.timeout(self.settings.redis_deadline_s):
                    current = await self.store.read(user_id)
                self.known.remember(user_id, current)
            except REDIS_ERRORS:
                current = None
        stale = ""
        if current is None:
            current = self.known.get(user_id)
            if current is None:
                return None, "redis.preferences", False  # honour.PREFERENCES_UNREAD
            stale = "redis.preferences.last_seen"  # honour.PREFERENCES_LAST_SEEN
        prefs = current.preferences
        if prefs.is_empty():
            return None, "", False
        hard = bool(prefs.hard_positive or prefs.hard_negative)
        try:
            response: retrieval_pb2.PlanToolsResponse = await self.retrieval.PlanTools(
                retrieval_pb2.PlanToolsRequest(
                    user_id=user_id, preferences=current.preferences.to_pb(), top_k=n, base=items
                ),
                timeout=deadline_s,
            )
        except grpc.aio.AioRpcError:
            return None, "retrieval.tools", hard
        return response, stale, hard
