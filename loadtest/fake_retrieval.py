"""A stand-in retrieval service for load tests of the gateway alone: real catalogue items, no index.

    python loadtest/fake_retrieval.py --catalogue catalogue/ --port 50099 [--delay-ms 2]

Serves recgpt.retrieval.v1.RetrievalService (with health and reflection, like the real one) from the
catalogue's items.jsonl: UserRoutes, Collaborative and Search answer a slice of the catalogue that
depends on the user or the query, with falling scores. It measures what the gateway costs, not what
retrieval returns.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import zlib
from pathlib import Path

import grpc
import uvloop

from recgpt.common.v1 import common_pb2
from recgpt.retrieval.v1 import retrieval_pb2, retrieval_pb2_grpc
from recgpt_domain.catalogue import read_items
from recgpt_serving import logs, service_names
from recgpt_serving.grpc_server import GrpcService

RETRIEVAL_SERVICE = service_names.RETRIEVAL
# High enough that the benchmark measures the gateway, never this stand-in shedding load.
MAX_CONCURRENT_RPCS = 4096
log = logging.getLogger("fake_retrieval")


class CatalogueSlices(retrieval_pb2_grpc.RetrievalServiceServicer):
    def __init__(self, items: list[common_pb2.Item], delay_s: float) -> None:
        self.items = items
        self.delay_s = delay_s

    def _slice(self, key: str, top_k: int, route: str) -> list[common_pb2.ScoredItem]:
        start = zlib.crc32(key.encode()) % len(self.items)
        count = min(max(top_k, 1), len(self.items))
        return [
            common_pb2.ScoredItem(
                item=self.items[(start + rank) % len(self.items)], score=1.0 - rank / count, route=route
            )
            for rank in range(count)
        ]

    async def Collaborative(
        self, request: retrieval_pb2.CollaborativeRequest, context: grpc.aio.ServicerContext
    ) -> retrieval_pb2.CollaborativeResponse:
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        items = self._slice(request.user_id, request.top_k, "collaborative")
        return retrieval_pb2.CollaborativeResponse(items=items)

    async def Search(
        self, request: retrieval_pb2.SearchRequest, context: grpc.aio.ServicerContext
    ) -> retrieval_pb2.SearchResponse:
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        key = ",".join(request.items.item_ids[:3]) or request.exclude_seen_of_user
        return retrieval_pb2.SearchResponse(items=self._slice(key, request.top_k, "content"))

    async def UserRoutes(
        self, request: retrieval_pb2.UserRoutesRequest, context: grpc.aio.ServicerContext
    ) -> retrieval_pb2.UserRoutesResponse:
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        return retrieval_pb2.UserRoutesResponse(
            collaborative=self._slice(request.user_id, request.top_k, "collaborative"),
            content=[]
            if request.skip_content
            else self._slice(f"content:{request.user_id}", request.top_k, "content"),
        )

    async def Popular(
        self, request: retrieval_pb2.PopularRequest, context: grpc.aio.ServicerContext
    ) -> retrieval_pb2.PopularResponse:
        return retrieval_pb2.PopularResponse(items=self._slice("", request.top_k, "popular"))


async def serve(catalogue: Path, host: str, port: int, delay_s: float) -> None:
    items = [
        common_pb2.Item(
            item_id=item.item_id,
            title=item.title,
            brand=item.brand,
            category_path=item.category_path,
        )
        for item in read_items(catalogue)
    ]
    if not items:
        raise SystemExit(f"no items in {catalogue}")
    service = GrpcService("retrieval-fake", [RETRIEVAL_SERVICE], max_concurrent_rpcs=MAX_CONCURRENT_RPCS)
    servicer = CatalogueSlices(items, delay_s)
    retrieval_pb2_grpc.add_RetrievalServiceServicer_to_server(servicer, service.server)  # type: ignore[no-untyped-call]
    service.bind(host, port)
    await service.start()
    await service.mark_serving()
    log.info("fake retrieval serving", extra={"items": len(items), "port": service.port})
    await service.run_until_signalled(grace_s=1.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--catalogue", type=Path, required=True, help="folder with items.jsonl")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--delay-ms", type=float, default=0.0, help="added to every answer")
    args = parser.parse_args()
    logs.configure("retrieval-fake")
    uvloop.run(serve(args.catalogue, args.host, args.port, args.delay_ms / 1000))


if __name__ == "__main__":
    main()
