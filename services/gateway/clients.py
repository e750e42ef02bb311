"""The gateway's connections: one Redis client and one channel per gRPC service, shared by all requests."""

from __future__ import annotations

from dataclasses import dataclass

import grpc
import redis.asyncio as aioredis

from gateway.settings import GatewaySettings
from recgpt.explain.v1 import explain_pb2_grpc
from recgpt.intent.v1 import intent_pb2_grpc
from recgpt.judge.v1 import judge_pb2_grpc
from recgpt.retrieval.v1 import retrieval_pb2_grpc
from recgpt_domain import redis_connection
from recgpt_serving import grpc_client, service_names

RETRIEVAL_SERVICE = service_names.RETRIEVAL
EXPLAIN_SERVICE = service_names.EXPLAIN
JUDGE_SERVICE = service_names.JUDGE


@dataclass
class GatewayDeps:
    """Connections the app uses; tests pass their own, the lifespan opens them from settings otherwise."""

    redis: aioredis.Redis
    retrieval_channel: grpc.aio.Channel
    # The caches' Redis (profiles); None: `redis` holds them.
    cache_redis: aioredis.Redis | None = None
    # Optional (recgpt-v1 only): None when not configured; never part of readiness.
    explain_channel: grpc.aio.Channel | None = None
    judge_channel: grpc.aio.Channel | None = None
    # RecBot's command parser; None: the feed answers 503.
    intent_channel: grpc.aio.Channel | None = None

    @classmethod
    def connect(cls, settings: GatewaySettings) -> GatewayDeps:
        """Opens nothing yet: the clients connect lazily, so start-up does not wait on a dependency."""
        return cls(
            redis=redis_connection.connect(settings.redis_url),
            cache_redis=_optional_redis(settings.cache_redis_url),
            retrieval_channel=grpc_client.channel(settings.retrieval_target, RETRIEVAL_SERVICE),
            explain_channel=_optional_channel(settings.explain_target, EXPLAIN_SERVICE),
            judge_channel=_optional_channel(settings.judge_target, JUDGE_SERVICE),
            intent_channel=_optional_channel(settings.intent_target, service_names.INTENT),
        )

    @property
    def caches(self) -> aioredis.Redis:
        """Where the profiles live: the caches' Redis, or the state's when there is none apart."""
        return self.cache_redis or self.redis

    def retrieval(self) -> retrieval_pb2_grpc.RetrievalServiceStub:
        return retrieval_pb2_grpc.RetrievalServiceStub(self.retrieval_channel)  # type: ignore[no-untyped-call]

    def explain(self) -> explain_pb2_grpc.ExplainServiceStub | None:
        if self.explain_channel is None:
            return None
        return explain_pb2_grpc.ExplainServiceStub(self.explain_channel)  # type: ignore[no-untyped-call]

    def judge(self) -> judge_pb2_grpc.JudgeServiceStub | None:
        if self.judge_channel is None:
            return None
        return judge_pb2_grpc.JudgeServiceStub(self.judge_channel)  # type: ignore[no-untyped-call]

    def intent(self) -> intent_pb2_grpc.IntentServiceStub | None:
        if self.intent_channel is None:
            return None
        return intent_pb2_grpc.IntentServiceStub(self.intent_channel)  # type: ignore[no-untyped-call]

    def start_connecting(self) -> None:
        """Starts each channel's connection without waiting for it, so that the first request's calls, whose
        deadlines are tens of milliseconds, do not also pay for a TCP and HTTP/2 handshake."""
        for channel in (
            self.retrieval_channel,
            self.explain_channel,
            self.judge_channel,
            self.intent_channel,
        ):
            if channel is not None:
                channel.get_state(try_to_connect=True)

    def grpc_dependencies(self) -> dict[str, tuple[grpc.aio.Channel, str]]:
        """Every gRPC dependency by name, with the service its health check asks about."""
        return {"retrieval": (self.retrieval_channel, RETRIEVAL_SERVICE)}

    async def close(self) -> None:
        for channel in (
            self.retrieval_channel,
            self.explain_channel,
            self.judge_channel,
            self.intent_channel,
        ):
            if channel is not None:
                await channel.close()
        await self.redis.aclose()
        if self.cache_redis is not None:
            await self.cache_redis.aclose()


def _optional_channel(target: str, service: str) -> grpc.aio.Channel | None:
    return grpc_client.channel(target, service) if target.strip() else None


def _optional_redis(url: str | None) -> aioredis.Redis | None:
    return redis_connection.connect(url) if url else None
