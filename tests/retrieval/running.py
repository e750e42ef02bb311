"""The retrieval service as its tests start it: settings over the small index, and what a started one
gives a test."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from recgpt.common.v1 import common_pb2
from recgpt.retrieval.v1 import retrieval_pb2_grpc
from recgpt_domain.behaviour_store import BehaviourStore
from retrieval.server import RetrievalServer
from retrieval.servicer import SERVICE_NAME
from retrieval.settings import IndexSettings, RetrievalSettings


def retrieval_settings(
    index: IndexSettings, redis_url: str, redis_prefix: str, **overrides: object
) -> RetrievalSettings:
    values: dict[str, object] = {
        "catalogue_dir": index.catalogue_dir,
        "index_dir": index.index_dir,
        "index_type": index.index_type,
        "collaborative_window": index.collaborative_window,
        "redis_url": redis_url,
        "redis_prefix": redis_prefix,
        "port": 0,
        "metrics_port": 0,
        "max_top_k": 50,
        "max_queries": 8,
        **overrides,
    }
    return RetrievalSettings(**values)  # type: ignore[arg-type]


@dataclass
class Running:
    server: RetrievalServer
    channel: grpc.aio.Channel
    stub: retrieval_pb2_grpc.RetrievalServiceStub
    store: BehaviourStore

    async def health(self) -> int:
        stub = health_pb2_grpc.HealthStub(self.channel)
        reply = await stub.Check(health_pb2.HealthCheckRequest(service=SERVICE_NAME))
        return int(reply.status)


def ids(items: Sequence[common_pb2.ScoredItem]) -> list[str]:
    return [scored.item.item_id for scored in items]
