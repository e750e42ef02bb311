"""Stubs of the RecGPT services for a job that calls them all (the near-line job, the evaluation).

One channel per service (`grpc_client.channel`: UNAVAILABLE retried, the request context in metadata),
shared by every call and closed together. Opening one connects nothing yet: a channel connects on its
first call. Deadlines are the caller's, one per call.
"""

from __future__ import annotations

from typing import Protocol

import grpc

from recgpt.explain.v1 import explain_pb2_grpc
from recgpt.intent.v1 import intent_pb2_grpc
from recgpt.judge.v1 import judge_pb2_grpc
from recgpt.retrieval.v1 import retrieval_pb2_grpc
from recgpt.tags.v1 import tags_pb2_grpc
from recgpt_serving import grpc_client, service_names


class PipelineTargets(Protocol):
    """Where the services of the RecGPT-V1 pipeline listen (the `<service>_target` settings)."""

    @property
    def retrieval_target(self) -> str: ...
    @property
    def intent_target(self) -> str: ...
    @property
    def tags_target(self) -> str: ...
    @property
    def explain_target(self) -> str: ...


class JudgedTargets(PipelineTargets, Protocol):
    """And where the judge listens."""

    @property
    def judge_target(self) -> str: ...


class ServiceStubs:
    """The pipeline's services: interests, tags, retrieval and explanations."""

    def __init__(self, targets: PipelineTargets) -> None:
        self.channels: list[grpc.aio.Channel] = []
        self.intent = intent_pb2_grpc.IntentServiceStub(  # type: ignore[no-untyped-call]
            self._channel(targets.intent_target, service_names.INTENT)
        )
        self.tags = tags_pb2_grpc.TagsServiceStub(  # type: ignore[no-untyped-call]
            self._channel(targets.tags_target, service_names.TAGS)
        )
        self.retrieval = retrieval_pb2_grpc.RetrievalServiceStub(  # type: ignore[no-untyped-call]
            self._channel(targets.retrieval_target, service_names.RETRIEVAL)
        )
        self.explain = explain_pb2_grpc.ExplainServiceStub(  # type: ignore[no-untyped-call]
            self._channel(targets.explain_target, service_names.EXPLAIN)
        )

    def _channel(self, target: str, full_service_name: str) -> grpc.aio.Channel:
        channel = grpc_client.channel(target, full_service_name)
        self.channels.append(channel)
        return channel

    async def close(self) -> None:
        for channel in self.channels:
            await channel.close()


class ServiceStubsWithJudge(ServiceStubs):
    """The pipeline's services and the judge, for a job that scores what the pipeline made."""

    def __init__(self, targets: JudgedTargets) -> None:
        super().__init__(targets)
        self.judge = judge_pb2_grpc.JudgeServiceStub(  # type: ignore[no-untyped-call]
            self._channel(targets.judge_target, service_names.JUDGE)
        )
