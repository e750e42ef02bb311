"""A fake retrieval service for the gateway's unit tests: canned answers, faults on demand, calls recorded."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import grpc

from recgpt.common.v1 import common_pb2
from recgpt.retrieval.v1 import retrieval_pb2, retrieval_pb2_grpc
from recgpt_runtime.grpc_server import GrpcService

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


@dataclass
class Call:
    method: str
    request: Any
    metadata: dict[str, str]


class FakeRetrieval(retrieval_pb2_grpc.RetrievalServiceServicer):
    """Canned answers: collaborative gives items 0-39, content 30-69, so 30-39 come from both."""

    def __init__(self) -> None:
        self.collaborative_items = scored(range(40), "collaborative")
        self.popular_items = scored(range(50, 80), "popular")
        self.search_items = scored(range(30, 70), "content")
        self.cold_users: set[str] = set()
        self.faults: dict[str, Fault] = {}
        self.calls: list[Call] = []

    async def _enter(self, method: str, request: Any, context: grpc.aio.ServicerContext) -> None:
        metadata = {key: str(value) for key, value in context.invocation_metadata() or ()}
        self.calls.append(Call(method, request, metadata))
        fault = self.faults.get(method, Fault())
        if fault.delay_s:
            await asyncio.sleep(fault.delay_s)
        if fault.code is not None:
            await context.abort(fault.code, f"fake {method} failure")

    async def Collaborative(
        self, request: retrieval_pb2.CollaborativeRequest, context: grpc.aio.ServicerContext
    ) -> retrieval_pb2.CollaborativeResponse:
        await self._enter("Collaborative", request, context)
        if request.user_id in self.cold_users:
            return retrieval_pb2.CollaborativeResponse(
                items=self.popular_items[: request.top_k], cold_start=True
            )
        return retrieval_pb2.CollaborativeResponse(items=self.collaborative_items[: request.top_k])

    async def Search(
        self, request: retrieval_pb2.SearchRequest, context: grpc.aio.ServicerContext
    ) -> retrieval_pb2.SearchResponse:
        await self._enter("Search", request, context)
        return retrieval_pb2.SearchResponse(items=self.search_items[: request.top_k])

    def calls_of(self, method: str) -> list[Call]:
        return [call for call in self.calls if call.method == method]


@dataclass
class FakeRetrievalServer:
    servicer: FakeRetrieval
    service: GrpcService
    target: str
    stopped: bool = field(default=False)

    async def stop(self) -> None:
        if not self.stopped:
            self.stopped = True
            await self.service.stop(0)
