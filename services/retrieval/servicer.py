"""The gRPC face of retrieval: checks requests, reads the user's behaviour, asks the retriever, answers.

Everything but the user's behaviour is in memory, so Redis failing or hanging costs only that: the read has
a short budget, and without it the collaborative route answers with popular items and the answer names the
missing behaviour in `degraded`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import grpc
import numpy as np
import numpy.typing as npt
from google.protobuf.internal.containers import RepeatedCompositeFieldContainer
from redis.exceptions import RedisError

from recgpt.common.v1 import common_pb2
from recgpt.retrieval.v1 import retrieval_pb2, retrieval_pb2_grpc
from recgpt_domain.behaviour_store import BehaviourStore, RecentBehaviour, parse_recent_and_seen
from recgpt_domain.embedder import Vectors
from recgpt_domain.preferences import PreferenceStore, Versioned
from recgpt_domain.towers import ranker
from recgpt_domain.towers.artefact import FusionWeights
from recgpt_domain.towers.ranker import Ranker, RouteList, UserContext
from recgpt_serving import metrics
from retrieval import validation
from retrieval.learned_route import ROUTE_LEARNED, ROUTE_RANKED, LearnedRoute, ServedModel
from retrieval.retriever import Ranked, Retriever
from retrieval.settings import RetrievalSettings
from retrieval.tools import service as feed_tools
from retrieval.tools.attributes import FeedAttributes
from retrieval.user_cache import USER_ROUTES, UserCache, fingerprint
from retrieval.validation import InvalidRequest
from retrieval.vector_search import Hits

log = logging.getLogger(__name__)

SERVICE_NAME = retrieval_pb2.DESCRIPTOR.services_by_name["RetrievalService"].full_name

T = TypeVar("T")

SERVICE = "retrieval"
# What a failed behaviour read may raise: Redis errors, its late answer, a log entry that does not parse.
BEHAVIOUR_ERRORS = (TimeoutError, RedisError, OSError, ValueError)
# The share of the caller's time left that a behaviour read may take: the rest is for the answer.
_BEHAVIOUR_SHARE_OF_DEADLINE = 0.5


class NotLoaded(RuntimeError):
    """The index is still loading (health says NOT_SERVING meanwhile)."""


def _fill(
    out: RepeatedCompositeFieldContainer[common_pb2.ScoredItem],
    retriever: Retriever,
    rows: npt.NDArray[np.int64],
    scores: npt.NDArray[np.float32],
    routes: Sequence[str],
) -> None:
    messages = retriever.table.messages
    add = out.add
    for row, score, route in zip(rows.tolist(), scores.tolist(), routes, strict=True):
        scored = add(score=score, route=route)
        scored.item.CopyFrom(messages[row])


class RetrievalServicer(retrieval_pb2_grpc.RetrievalServiceServicer):
    def __init__(self, settings: RetrievalSettings, store: BehaviourStore) -> None:
        self.settings = settings
        self.store = store
        # RecBot's preferences, read with the behaviour when a caller asks (one round trip for both).
        self.preferences = PreferenceStore(store.client, store.keys.prefix)
        self.retriever: Retriever | None = None
        self.feed_attributes: FeedAttributes | None = None
        self.learned: LearnedRoute | None = None
        self._routes_cached: tuple[ServedModel, UserCache[RoutesAnswer]] | None = None
        self._behaviour_failures = metrics.DEGRADATIONS.labels(SERVICE, "redis")
        self._behaviour_timer = metrics.DEPENDENCY_DURATION.labels(SERVICE, "redis", "behaviour")

    def attach(self, retriever: Retriever) -> None:
        """Makes the loaded index live; until then every RPC answers UNAVAILABLE."""
        self.retriever = retriever

    def prepare_feed_tools(self) -> None:
        """RecBot's item attributes (the catalogue's behaviour gives mean ratings): at load, not per call."""
        if self.retriever is not None and self.feed_attributes is None:
            self.feed_attributes = FeedAttributes.load(self.retriever.table, self.settings.catalogue_dir)

    def _served_model(self) -> ServedModel | None:
        return self.learned.current if self.learned is not None else None

    def _served_fusion(self, served: ServedModel | None) -> FusionWeights | None:
        """The served artefact's fusion, its ranker left out where the settings turn rankers off."""
        fusion = served.model.fusion if served is not None else None
        if fusion is not None and fusion.ranker is not None and not self.settings.towers_ranker:
            return fusion.model_copy(update={"ranker": None})
        return fusion

    def _loaded(self) -> Retriever:
        if self.retriever is None:
            raise NotLoaded("index not loaded yet")
        return self.retriever

    async def _answer(self, context: grpc.aio.ServicerContext, call: Awaitable[T]) -> T:
        try:
            return await call
        except InvalidRequest as error:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(error))
        except NotLoaded as error:
            await context.abort(grpc.StatusCode.UNAVAILABLE, str(error))
        raise AssertionError("context.abort returned")

    async def Search(
        self, request: retrieval_pb2.SearchRequest, context: grpc.aio.ServicerContext
    ) -> retrieval_pb2.SearchResponse:
        return await self._answer(context, self._search(request, context))

    async def Collaborative(
        self, request: retrieval_pb2.CollaborativeRequest, context: grpc.aio.ServicerContext
    ) -> retrieval_pb2.CollaborativeResponse:
        return await self._answer(context, self._collaborative(request, context))

    async def Popular(
        self, request: retrieval_pb2.PopularRequest, context: grpc.aio.ServicerContext
    ) -> retrieval_pb2.PopularResponse:
        return await self._answer(context, self._popular(request))

    async def PlanTools(
        self, request: retrieval_pb2.PlanToolsRequest, context: grpc.aio.ServicerContext
    ) -> retrieval_pb2.PlanToolsResponse:
        return await self._answer(context, self._plan_tools(request, context))

    async def _plan_tools(
        self, request: retrieval_pb2.PlanToolsRequest, context: grpc.aio.ServicerContext
    ) -> retrieval_pb2.PlanToolsResponse:
        retriever = self._loaded()
        if self.feed_attributes is None:
            await asyncio.to_thread(self.prepare_feed_tools)
        assert self.feed_attributes is not None
        behaviour: RecentBehaviour | None = RecentBehaviour([], set())
        if request.user_id:
            user_id = validation.user_id(request.user_id)
            recent = self.settings.collaborative_recent_items
            behaviour = await self._read_behaviour(self.store.recent_and_seen(user_id, recent), context)
        # A page never longer than the service's cap: a larger ask gets the cap, not a refusal.
        k = validation.top_k(min(request.top_k, self.settings.max_top_k), self.settings.max_top_k)
        return await feed_tools.plan_tools(retriever, self.feed_attributes, request, behaviour, k)

    async def GetItems(
        self, request: retrieval_pb2.GetItemsRequest, context: grpc.aio.ServicerContext
    ) -> retrieval_pb2.GetItemsResponse:
        return await self._answer(context, self._get_items(request))

    async def GetIndexInfo(
        self, request: retrieval_pb2.GetIndexInfoRequest, context: grpc.aio.ServicerContext
    ) -> retrieval_pb2.IndexInfo:
        return await self._answer(context, self._index_info())

    async def UserRoutes(
        self, request: retrieval_pb2.UserRoutesRequest, context: grpc.aio.ServicerContext
    ) -> retrieval_pb2.UserRoutesResponse:
        return await self._answer(context, self._user_routes(request, context))

    def _behaviour_budget(self, context: grpc.aio.ServicerContext) -> float:
        """The behaviour read's own cap, cut to a share of what the caller has left."""
        left = context.time_remaining()
        cap = self.settings.redis_deadline_s
        return cap if left is None else min(cap, max(left, 0.0) * _BEHAVIOUR_SHARE_OF_DEADLINE)

    async def _read_behaviour(self, call: Awaitable[T], context: grpc.aio.ServicerContext) -> T | None:
        """The read's result, or None (counted, logged) when Redis fails or runs out of its budget."""
        start = time.perf_counter()
        try:
            async with asyncio.timeout(self._behaviour_budget(context)):
                return await call
        except BEHAVIOUR_ERRORS as error:
            self._behaviour_failures.inc()
            log.warning("user behaviour unreadable, answering without it", extra={"reason": repr(error)})
            return None
        finally:
            self._behaviour_timer.observe(time.perf_counter() - start)

    async def _behaviour_and_preferences(
        self, user_id: str, recent: int
    ) -> tuple[RecentBehaviour, Versioned]:
        """The user's recent and seen items and feed preferences, pipelined into one round trip."""
        async with self.store.client.pipeline(transaction=False) as pipe:
            self.store.queue_recent_and_seen(pipe, user_id, recent)
            self.preferences.queue_read(pipe, user_id)
            raw_log, raw_seen, raw_preferences = await pipe.execute()
        return parse_recent_and_seen(raw_log, raw_seen, recent), PreferenceStore.parse(raw_preferences)

    async def _seen(self, user_id: str, context: grpc.aio.ServicerContext) -> set[str] | None:
        """The user's seen items; empty for no user, None when they could not be read."""
        if not user_id:
            return set()
        return await self._read_behaviour(self.store.seen(user_id), context)

    async def _search(
        self, request: retrieval_pb2.SearchRequest, context: grpc.aio.ServicerContext
    ) -> retrieval_pb2.SearchResponse:
        retriever = self._loaded()
        settings = self.settings
        k = validation.top_k(request.top_k, settings.max_top_k)
        per_query = validation.per_query_top_k(request.per_query_top_k)
        kind = request.WhichOneof("query")
        response = retrieval_pb2.SearchResponse()
        excluded = list(request.exclude_item_ids)
        if kind == "items":
            ids = validation.item_ids(request.items.item_ids, settings.max_queries)
            rows = retriever.table.rows_for(ids)
            if not rows:
                return response
            seen = await self._seen(request.exclude_seen_of_user, context)
            _mark_unread(response, seen)
            allowed = retriever.filters.allowed(
                request.filter, [*rows, *retriever.table.rows_for([*excluded, *(seen or ())])]
            )
            # The content route searches from one query (the items' mean): the cap is a smaller k.
            hits = retriever.similar_to(rows, min(k, per_query or k), allowed)
            _fill(response.items, retriever, hits.rows, hits.scores, ["content"] * hits.rows.size)
            return response
        queries: Vectors
        tags: Sequence[common_pb2.Tag] = ()
        if kind == "vectors":
            queries = validation.vectors(request.vectors.vectors, retriever.dimension, settings.max_queries)
            seen = await self._seen(request.exclude_seen_of_user, context)
        elif kind in ("texts", "tags"):
            if kind == "texts":
                texts = validation.texts(request.texts.texts, settings.max_queries)
            else:
                tags = request.tags.tags
                texts = validation.tag_texts(tags, settings.max_queries, settings.tag_include_rationale)
            queries, seen = await asyncio.gather(
                retriever.embed(texts), self._seen(request.exclude_seen_of_user, context)
            )
        else:
            raise InvalidRequest("empty query: set one of texts, tags, vectors or items")
        _mark_unread(response, seen)
        allowed = retriever.filters.allowed(
            request.filter, retriever.table.rows_for([*excluded, *(seen or ())])
        )
        served = self._served_model() if kind == "tags" and settings.towers_tag_route else None
        if served is not None:
            hits = served.search(served.model.tag_vectors(queries), k, allowed, per_query)
        else:
            hits = retriever.search(queries, k, allowed, per_query)
        route = "vector" if kind == "vectors" else "text" if kind == "texts" else "tag"
        _fill(response.items, retriever, hits.rows, hits.scores, [route] * hits.rows.size)
        if tags:
            _label_tags(response, tags, hits)
        return response

    async def _collaborative(
        self, request: retrieval_pb2.CollaborativeRequest, context: grpc.aio.ServicerContext
    ) -> retrieval_pb2.CollaborativeResponse:
        retriever = self._loaded()
        settings = self.settings
        k = validation.top_k(request.top_k, settings.max_top_k)
        recent = validation.recent_items(
            request.recent_items, settings.collaborative_recent_items, settings.max_recent_items
        )
        table = retriever.table
        response = retrieval_pb2.CollaborativeResponse()
        served = None if request.cooccurrence_only else self._served_model()
        # The user tower reads up to its own window of recent items; co-occurrence the `recent` newest.
        wanted = max(recent, served.model.config.max_len) if served is not None else recent
        user_id = ""
        if request.seed_item_ids:
            # Given seeds (offline evaluation): no Redis; only the seeds and the listed items are left out.
            given = validation.seed_item_ids(request.seed_item_ids, settings.max_seed_items)
            seeds = table.rows_for(given)[:wanted]
            excluded = [*given, *request.exclude_item_ids]
        else:
            user_id = validation.user_id(request.user_id)
            behaviour = await self._read_behaviour(self.store.recent_and_seen(user_id, wanted), context)
            if behaviour is None:
                response.degraded.append(retrieval_pb2.DEGRADATION_USER_BEHAVIOUR)
                behaviour = RecentBehaviour([], set())
            seeds = table.rows_for(behaviour.recent_item_ids)
            excluded = [*behaviour.seen, *request.exclude_item_ids]
        allowed = retriever.filters.allowed(request.filter, table.rows_for(excluded))
        # Without the user's behaviour the popular items answer, but the user is not known to be new.
        response.cold_start = not seeds and not response.degraded
        ranked = _collaborative_ranked(retriever, served, seeds, recent, k, allowed, user_id)
        _fill(response.items, retriever, ranked.rows, ranked.scores, ranked.routes)
        return response

    async def _user_routes(
        self, request: retrieval_pb2.UserRoutesRequest, context: grpc.aio.ServicerContext
    ) -> retrieval_pb2.UserRoutesResponse:
        """The baseline's two routes from one behaviour read: what took two RPCs and three reads before."""
        retriever = self._loaded()
        settings = self.settings
        k = validation.top_k(request.top_k, settings.max_top_k)
        recent = validation.recent_items(
            request.recent_items, settings.collaborative_recent_items, settings.max_recent_items
        )
        user_id = validation.user_id(request.user_id)
        response = retrieval_pb2.UserRoutesResponse()
        served = self._served_model()
        # The user tower reads up to its own window of recent items; co-occurrence and content the `recent`.
        wanted = max(recent, served.model.config.max_len) if served is not None else recent
        if request.with_preferences:
            read = await self._read_behaviour(self._behaviour_and_preferences(user_id, wanted), context)
            behaviour, current = read if read is not None else (None, None)
        else:
            behaviour = await self._read_behaviour(self.store.recent_and_seen(user_id, wanted), context)
            current = None
        if behaviour is None:
            response.degraded.append(retrieval_pb2.DEGRADATION_USER_BEHAVIOUR)
            behaviour = RecentBehaviour([], set())
        if current is not None:
            response.preferences_read = True
            response.preferences.CopyFrom(current.preferences.to_pb())
            response.preferences_version = current.version
        table = retriever.table
        seeds = table.rows_for(behaviour.recent_item_ids)
        response.recent_item_ids.extend(behaviour.recent_item_ids)
        # The seeds are left out too, whether or not the seen set (read with them) has them.
        left_out = [*seeds, *table.rows_for([*behaviour.seen, *request.exclude_item_ids])]
        excluded = np.unique(np.asarray(left_out, dtype=np.int64))
        response.cold_start = not seeds and not response.degraded
        with_content = not request.skip_content
        # A learned answer is kept for the user until anything it is computed from changes.
        cache = self._routes_cache(served) if seeds else None
        key = b""
        if cache is not None:
            shape = [k, recent, with_content]
            key = fingerprint(seeds, excluded, shape, request.filter.SerializeToString(deterministic=True))
        answer = cache.get(user_id, key) if cache is not None else None
        if answer is None:
            allowed = retriever.filters.allowed(request.filter, excluded.tolist())
            fusion = self._served_fusion(served)
            answer = _routes(retriever, served, fusion, seeds, recent, k, allowed, user_id, with_content)
            if cache is not None:
                cache.put(user_id, key, answer)
        served_routes = answer.collaborative.routes
        metrics.COLLABORATIVE_ANSWERS.labels(served_routes[0] if served_routes else "none").inc()
        for out, routed in (
            (response.collaborative, answer.collaborative),
            (response.cooccurrence, answer.cooccurrence),
            (response.content, answer.content),
        ):
            if routed is not None:
                _fill(out, retriever, routed.rows, routed.scores, routed.routes)
        if answer.fusion is not None:
            response.towers_fusion.CopyFrom(answer.fusion)
        return response

    def _routes_cache(self, served: ServedModel | None) -> UserCache[RoutesAnswer] | None:
        """The served model's cache of UserRoutes answers (None without a model: co-occurrence is cheap);
        a new artefact starts an empty one."""
        size = self.settings.towers_routes_cache_size
        if served is None or size == 0:
            return None
        if self._routes_cached is None or self._routes_cached[0] is not served:
            self._routes_cached = (served, UserCache(USER_ROUTES, size))
        return self._routes_cached[1]

    async def _popular(self, request: retrieval_pb2.PopularRequest) -> retrieval_pb2.PopularResponse:
        retriever = self._loaded()
        k = validation.top_k(request.top_k, self.settings.max_top_k)
        ranked = retriever.popular(k, retriever.filters.allowed(request.filter, ()))
        response = retrieval_pb2.PopularResponse()
        _fill(response.items, retriever, ranked.rows, ranked.scores, ranked.routes)
        return response

    async def _get_items(self, request: retrieval_pb2.GetItemsRequest) -> retrieval_pb2.GetItemsResponse:
        retriever = self._loaded()
        if len(request.item_ids) > self.settings.max_get_items:
            raise InvalidRequest(
                f"too many item_ids: {len(request.item_ids)}, at most {self.settings.max_get_items}"
            )
        messages = retriever.table.messages
        return retrieval_pb2.GetItemsResponse(
            items=[messages[row] for row in retriever.table.rows_for(request.item_ids)]
        )

    async def _index_info(self) -> retrieval_pb2.IndexInfo:
        manifest = self._loaded().manifest
        served = self._served_model()
        fusion = self._served_fusion(served)
        return retrieval_pb2.IndexInfo(
            towers_version=served.version if served is not None else "",
            towers_fusion=_served_fusion_pb(fusion) if fusion is not None else None,
            towers_fusion_spread=_spread_pb(fusion) if fusion is not None else None,
            model=manifest.model,
            dimension=manifest.dimension,
            item_count=manifest.item_count,
            built_at_unix=manifest.built_at_unix,
            index_type=manifest.index_type,
            catalogue_fingerprint=manifest.catalogue_fingerprint,
            cooccurrence_behaviour_fingerprint=manifest.cooccurrence.behaviour_fingerprint,
            cooccurrence_users=manifest.cooccurrence.users,
            cooccurrence_interactions=manifest.cooccurrence.interactions,
        )


@dataclass(frozen=True)
class RoutesAnswer:
    """What UserRoutes computes from a user's behaviour, each route its top k: the collaborative route (the
    ranked, learned, co-occurrence or popular answer), the content route when asked, co-occurrence beside
    a learned answer whose weighted fusion gives it weight, and the fusion a learned answer comes with."""

    collaborative: Ranked
    content: Ranked | None
    cooccurrence: Ranked | None
    fusion: retrieval_pb2.TowersFusion | None


def _routes(
    retriever: Retriever,
    served: ServedModel | None,
    fusion: FusionWeights | None,
    seeds: Sequence[int],
    recent: int,
    k: int,
    allowed: npt.NDArray[np.bool_] | None,
    user_id: str,
    with_content: bool,
) -> RoutesAnswer:
    ranking = fusion is not None and fusion.ranker is not None
    # The ranker reads each route's top DEPTH, whatever k the caller asked for.
    depth = max(k, ranker.DEPTH) if ranking else k
    ranked = _collaborative_ranked(retriever, served, seeds, recent, depth, allowed, user_id)
    # One content search serves both the answer's content route and the ranker.
    content = None
    if seeds and (ranking or with_content):
        content = retriever.similar_to(seeds[:recent], depth, allowed)
    cooccurrence = None
    fusion_pb = None
    if fusion is not None and ROUTE_LEARNED in ranked.routes:
        if fusion.ranker is not None and content is not None:
            ranked = _ranked(
                retriever, served, fusion, fusion.ranker, ranked, content, seeds, recent, k, allowed
            )
            fusion_pb = _ranked_fusion_pb(fusion.ranker)
        else:
            fusion_pb = _fusion_pb(fusion)
            if fusion.cooccurrence_weight > 0:
                cooccurrence = retriever.collaborative(seeds[:recent], k, allowed)
    content_route = None
    if content is not None and with_content:
        rows = content.rows[:k]
        content_route = Ranked(rows, content.scores[:k], ["content"] * rows.size)
    collaborative = Ranked(ranked.rows[:k], ranked.scores[:k], ranked.routes[:k])
    return RoutesAnswer(collaborative, content_route, cooccurrence, fusion_pb)


def _collaborative_ranked(
    retriever: Retriever,
    served: ServedModel | None,
    seeds: Sequence[int],
    recent: int,
    k: int,
    allowed: npt.NDArray[np.bool_] | None,
    user_id: str = "",
) -> Ranked:
    """The collaborative route: the learned model when one is served, else co-occurrence of the `recent`
    newest seeds, else popular items; which one answered is counted. `user_id` names whose behaviour the
    seeds are (empty for given seeds), for the user vector cache."""
    if seeds and served is not None:
        return _learned(retriever, served, seeds, k, allowed, user_id)
    if seeds:
        return retriever.collaborative(seeds[:recent], k, allowed)
    return retriever.popular(k, allowed)


def _ranked(
    retriever: Retriever,
    served: ServedModel | None,
    fusion: FusionWeights,
    model: Ranker,
    learned: Ranked,
    content: Hits,
    seeds: Sequence[int],
    recent: int,
    k: int,
    allowed: npt.NDArray[np.bool_] | None,
) -> Ranked:
    """The ranker's order of the learned, co-occurrence, content and popular routes' candidates, computed as
    the offline evaluation computes it (`recgpt_domain.towers.ranker`); scores are its probabilities."""
    depth = ranker.DEPTH
    cooccurrence = retriever.collaborative(seeds[:recent], depth, allowed)
    popular = retriever.popular(depth, allowed)
    lists = {
        ranker.LEARNED: RouteList(learned.rows[:depth].tolist(), learned.scores[:depth].tolist()),
        ranker.COOCCURRENCE: RouteList(cooccurrence.rows.tolist(), cooccurrence.scores.tolist()),
        ranker.CONTENT: RouteList(content.rows[:depth].tolist(), content.scores[:depth].tolist()),
        ranker.POPULAR: RouteList(popular.rows.tolist(), popular.scores.tolist()),
    }
    weights = {
        ranker.LEARNED: fusion.collaborative_weight,
        ranker.COOCCURRENCE: fusion.cooccurrence_weight,
        ranker.CONTENT: fusion.content_weight,
    }
    user = UserContext(
        seeds,
        retriever.cooccurrence.popularity,
        retriever.table.category_ids,
        served.model.item_vectors if served is not None else None,
        served.item_norms if served is not None else None,
    )
    rows, scores = model.rank(lists, weights, user, k)
    return Ranked(rows, scores.astype(np.float32), [ROUTE_RANKED] * rows.size)


def _fusion_pb(fusion: FusionWeights) -> retrieval_pb2.TowersFusion:
    return retrieval_pb2.TowersFusion(
        beta=fusion.beta,
        collaborative_weight=fusion.collaborative_weight,
        content_weight=fusion.content_weight,
        cooccurrence_weight=fusion.cooccurrence_weight,
    )


def _served_fusion_pb(fusion: FusionWeights) -> retrieval_pb2.TowersFusion:
    """What the gateway fuses a learned answer with: the ranker's, where the artefact has one."""
    return _ranked_fusion_pb(fusion.ranker) if fusion.ranker is not None else _fusion_pb(fusion)


def _ranked_fusion_pb(model: Ranker) -> retrieval_pb2.TowersFusion:
    """The ranked list is the baseline alone; recgpt-v1 adds its tag route at 1 - the ranker's beta."""
    return retrieval_pb2.TowersFusion(
        beta=model.beta, collaborative_weight=1.0, content_weight=0.0, cooccurrence_weight=0.0, ranked=True
    )


def _spread_pb(fusion: FusionWeights) -> retrieval_pb2.TowersFusionSpread:
    return retrieval_pb2.TowersFusionSpread(
        folds=fusion.folds,
        choices=[
            retrieval_pb2.FusionChoiceSpread(
                name=name,
                choice=spread.choice,
                per_fold=spread.per_fold,
                mean=spread.mean,
                std=spread.std,
                held_out=spread.held_out,
                held_out_choices=spread.held_out_choices,
            )
            for name, spread in fusion.spread.items()
        ],
    )


def _learned(
    retriever: Retriever,
    served: ServedModel,
    seeds: Sequence[int],
    k: int,
    allowed: npt.NDArray[np.bool_] | None,
    user_id: str,
) -> Ranked:
    """The learned route: the user vector from the seeds, searched; popular items top up a short answer.

    Scores are the model's relative probabilities (`LearnedModel.relative_probabilities`, the best item 1);
    top-ups score below the last learned item."""
    hits = served.search(served.user_vector(seeds, user_id), k, allowed)
    rows, scores = hits.rows, served.model.relative_probabilities(hits.scores)
    routes = [ROUTE_LEARNED] * rows.size
    if rows.size < k:
        extra = retriever.popular(k - rows.size, allowed, taken=rows)
        below = float(scores.min()) if scores.size else 1.0
        rows, scores = np.concatenate([rows, extra.rows]), np.concatenate([scores, extra.scores * below])
        routes += extra.routes
    return Ranked(rows, scores, routes)


def _mark_unread(response: retrieval_pb2.SearchResponse, seen: set[str] | None) -> None:
    if seen is None:
        response.degraded.append(retrieval_pb2.DEGRADATION_USER_BEHAVIOUR)


def _label_tags(response: retrieval_pb2.SearchResponse, tags: Sequence[common_pb2.Tag], hits: Hits) -> None:
    """Each tag-route item names the tag and interest that brought it."""
    for scored, query in zip(response.items, hits.queries.tolist(), strict=True):
        scored.tag = tags[query].tag
        scored.interest = tags[query].interest
