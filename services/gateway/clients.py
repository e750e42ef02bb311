"""The gateway's connections: one Redis client and one channel per gRPC service, shared by all requests."""

from __future__ import annotations

from dataclasses import dataclass

import grpc
import redis.asyncio as aioredis

from gateway.settings import GatewaySettings
from recgpt.retrieval.v1 import retrieval_pb2_grpc
from recgpt_runtime import behaviour_store, grpc_client

RETRIEVAL_SERVICE = "recgpt.retrieval.v1.RetrievalService"


@dataclass
class GatewayDeps:
    """Connections the app uses; tests pass their own, the lifespan opens them from settings otherwise."""

    redis: aioredis.Redis
    retrieval_channel: grpc.aio.Channel

    @classmethod
    def connect(cls, settings: GatewaySettings) -> GatewayDeps:
        """Opens nothing yet: both clients connect lazily, so start-up does not wait on a dependency."""
        return cls(
            redis=behaviour_store.connect(settings.redis_url),
            retrieval_channel=grpc_client.channel(settings.retrieval_target, RETRIEVAL_SERVICE),
        )

    def retrieval(self) -> retrieval_pb2_grpc.RetrievalServiceStub:
        return retrieval_pb2_grpc.RetrievalServiceStub(self.retrieval_channel)  # type: ignore[no-untyped-call]

    def grpc_dependencies(self) -> dict[str, tuple[grpc.aio.Channel, str]]:
        """Every gRPC dependency by name, with the service its health check asks about."""
        return {"retrieval": (self.retrieval_channel, RETRIEVAL_SERVICE)}

    async def close(self) -> None:
        await self.retrieval_channel.close()
        await self.redis.aclose()
