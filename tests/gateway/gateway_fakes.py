"""Fake retrieval, explain and judge services for the gateway's unit tests: canned answers, faults on demand,
calls recorded."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import grpc

from recgpt.common.v1 import common_pb2
from recgpt.explain.v1 import explain_pb2, explain_pb2_grpc
from recgpt.judge.v1 import judge_pb2, judge_pb2_grpc
from recgpt.retrieval.v1 import retrieval_pb2, retrieval_pb2_grpc
from recgpt_domain.behaviour_store import BehaviourStore, RecentBehaviour
from recgpt_serving.grpc_server import GrpcService
from tests.grpc_servers import Served, registration, serving

CATALOGUE_SIZE = 80


def catalogue_item(index: int) -> common_pb2.Item:
    return common_pb2.Item(
        item_id=f"item-{index}",
        title=f"Item number {index}",
        brand=f"brand-{index % 5}",
        category_path=["Industrial & Scientific", f"Category {index % 7}"],
    )


def scored(indices: range | list[int], route: str) -> list[common_pb2.ScoredItem]:
    """Items with strictly falling scores, in the order given."""
    return [
        common_pb2.ScoredItem(item=catalogue_item(i), score=10.0 - rank * 0.1, route=route)
        for rank, i in enumerate(indices)
    ]


@dataclass
class Fault:
    delay_s: float = 0.0
    code: grpc.StatusCode | None = None
    # Held until the test sets it: a call that is certainly still running, whatever the machine's speed.
    hold: asyncio.Event | None = None


@dataclass
class Call:
    method: str
    request: Any
    metadata: dict[str, str]


class Recorder:
    """Records every call and applies the fault set for its method."""

    def __init__(self) -> None:
        self.faults: dict[str, Fault] = {}
        self.calls: list[Call] = []

    async def _enter(self, method: str, request: Any, context: grpc.aio.ServicerContext) -> None:
        metadata = {key: str(value) for key, value in context.invocation_metadata() or ()}
        self.calls.append(Call(method, request, metadata))
        fault = self.faults.get(method, Fault())
        if fault.hold is not None:
            await fault.hold.wait()
        if fault.delay_s:
            await asyncio.sleep(fault.delay_s)
        if fault.code is not None:
            await context.abort(fault.code, f"fake {method} failure")

    def calls_of(self, method: str) -> list[Call]:
        return [call for call in self.calls if call.method == method]


# The tag route of the fake: these items, each labelled with the request's tags in turn.
TAG_ROUTE_ITEMS = range(36, 56)


class FakeRetrieval(Recorder, retrieval_pb2_grpc.RetrievalServiceServicer):
    """Canned answers: collaborative gives items 0-39, content 30-69, so 30-39 come from both; a tag search
    gives 36-55, so 36-39 come from the collaborative and the tag route. UserRoutes reads the user's
    behaviour from `store` (the test's Redis) as the real service does, leaves their seen items out of both
    routes, and answers the content route only for a user with recent items; `cold_users` get popular
    items."""

    def __init__(self, store: BehaviourStore | None = None) -> None:
        super().__init__()
        self.store = store
        self.collaborative_items = scored(range(40), "collaborative")
        self.popular_items = scored(range(50, 80), "popular")
        self.search_items = scored(range(30, 70), "content")
        self.cold_users: set[str] = set()
        # As the real service answers when its Redis fails: without the user's behaviour, and saying so.
        self.behaviour_unread = False
        # As the real service answers when the learned route ranked `collaborative`: its artefact's weights.
        self.towers_fusion: retrieval_pb2.TowersFusion | None = None

    async def Collaborative(
        self, request: retrieval_pb2.CollaborativeRequest, context: grpc.aio.ServicerContext
    ) -> retrieval_pb2.CollaborativeResponse:
        await self._enter("Collaborative", request, context)
        if self.behaviour_unread:
            return retrieval_pb2.CollaborativeResponse(
                items=self.popular_items[: request.top_k], degraded=[retrieval_pb2.DEGRADATION_USER_BEHAVIOUR]
            )
        if request.user_id in self.cold_users:
            return retrieval_pb2.CollaborativeResponse(
                items=self.popular_items[: request.top_k], cold_start=True
            )
        return retrieval_pb2.CollaborativeResponse(items=self.collaborative_items[: request.top_k])

    async def Search(
        self, request: retrieval_pb2.SearchRequest, context: grpc.aio.ServicerContext
    ) -> retrieval_pb2.SearchResponse:
        await self._enter("Search", request, context)
        if request.WhichOneof("query") == "tags":
            tags = list(request.tags.tags)
            items = scored(TAG_ROUTE_ITEMS, "tag")[: request.top_k]
            for rank, item in enumerate(items):
                item.tag = tags[rank % len(tags)].tag
                item.interest = tags[rank % len(tags)].interest
            return retrieval_pb2.SearchResponse(items=items)
        unread = [retrieval_pb2.DEGRADATION_USER_BEHAVIOUR] if self.behaviour_unread else []
        return retrieval_pb2.SearchResponse(items=self.search_items[: request.top_k], degraded=unread)

    async def UserRoutes(
        self, request: retrieval_pb2.UserRoutesRequest, context: grpc.aio.ServicerContext
    ) -> retrieval_pb2.UserRoutesResponse:
        await self._enter("UserRoutes", request, context)
        unread = self.behaviour_unread or self.store is None
        if unread:
            behaviour = RecentBehaviour([], set())
        else:
            assert self.store is not None
            behaviour = await self.store.recent_and_seen(request.user_id, request.recent_items)
        answer = retrieval_pb2.UserRoutesResponse(recent_item_ids=behaviour.recent_item_ids)
        if unread:
            # As the real service: popular items, no content route, and the answer says why.
            answer.degraded.append(retrieval_pb2.DEGRADATION_USER_BEHAVIOUR)
            answer.collaborative.extend(self.popular_items[: request.top_k])
            return answer
        if request.user_id in self.cold_users:
            answer.cold_start = True
            answer.collaborative.extend(self.popular_items[: request.top_k])
            return answer
        unseen = [i for i in self.collaborative_items if i.item.item_id not in behaviour.seen]
        answer.collaborative.extend(unseen[: request.top_k])
        if self.towers_fusion is not None:
            answer.towers_fusion.CopyFrom(self.towers_fusion)
            if self.towers_fusion.cooccurrence_weight > 0:
                answer.cooccurrence.extend(self.popular_items[: request.top_k])
        # The content route is seeded by the recent items: none, no route.
        if behaviour.recent_item_ids and not request.skip_content:
            content = [i for i in self.search_items if i.item.item_id not in behaviour.seen]
            answer.content.extend(content[: request.top_k])
        return answer

    async def Popular(
        self, request: retrieval_pb2.PopularRequest, context: grpc.aio.ServicerContext
    ) -> retrieval_pb2.PopularResponse:
        await self._enter("Popular", request, context)
        return retrieval_pb2.PopularResponse(items=self.popular_items[: request.top_k])


def explanation_text(interest: str, item_id: str) -> str:
    return f"Because you like {interest}, try {item_id}."


def meta_prompted_text(interest: str, item_id: str) -> str:
    """What the fake answers a RecGPT-V2 request: told apart from V1's text."""
    return f"Written for now: {item_id} suits {interest}."


class FakeExplain(Recorder, explain_pb2_grpc.ExplainServiceServicer):
    """A cache that knows every pair except the items in `missing`, and for RecGPT-V2 requests except the
    items in `missing_v2` too."""

    def __init__(self) -> None:
        super().__init__()
        self.missing: set[str] = set()
        self.missing_v2: set[str] = set()

    async def Explain(
        self, request: explain_pb2.ExplainRequest, context: grpc.aio.ServicerContext
    ) -> explain_pb2.ExplainResponse:
        await self._enter("Explain", request, context)
        v2 = request.method == explain_pb2.METHOD_RECGPT_V2
        missing = self.missing | self.missing_v2 if v2 else self.missing
        text = meta_prompted_text if v2 else explanation_text
        return explain_pb2.ExplainResponse(
            explanations=[
                explain_pb2.Explanation(
                    interest=pair.interest,
                    item_id=pair.item_id,
                    text=text(pair.interest, pair.item_id),
                    cached=True,
                )
                for pair in request.pairs
                if pair.item_id not in missing
            ]
        )


class FakeJudge(Recorder, judge_pb2_grpc.JudgeServiceServicer):
    """Passes everything, after the Judge fault's delay (a slow LLM); counts the calls that finished."""

    def __init__(self) -> None:
        super().__init__()
        self.finished = 0

    async def Judge(
        self, request: judge_pb2.JudgeRequest, context: grpc.aio.ServicerContext
    ) -> judge_pb2.JudgeResponse:
        await self._enter("Judge", request, context)
        self.finished += 1
        return judge_pb2.JudgeResponse(
            judgements=[
                judge_pb2.Judgement(index=index, verdict=judge_pb2.VERDICT_PASS)
                for index in range(len(request.explanations.explanations))
            ]
        )


ServicerT = TypeVar("ServicerT", bound=Recorder)


@dataclass
class FakeServer(Generic[ServicerT]):
    """A fake served in-process: its servicer (what it recorded, its faults) and the server."""

    servicer: ServicerT
    served: Served

    @property
    def target(self) -> str:
        return self.served.target

    @property
    def service(self) -> GrpcService:
        return self.served.service

    async def stop(self) -> None:
        """Takes the fake down mid-test (an outage); a second stop does nothing."""
        await self.served.stop(0)


@asynccontextmanager
async def fake_server(
    servicer: ServicerT, full_service_name: str, add_to_server: Callable[[Any, grpc.aio.Server], None]
) -> AsyncIterator[FakeServer[ServicerT]]:
    registered = registration(servicer, add_to_server, full_service_name)
    async with serving(registered, name=f"{full_service_name}-fake") as served:
        yield FakeServer(servicer, served)


FakeRetrievalServer = FakeServer[FakeRetrieval]
