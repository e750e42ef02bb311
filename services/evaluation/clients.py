"""The evaluation's gRPC channels, one per service, closed at the end."""

from __future__ import annotations

from dataclasses import dataclass

import grpc

from evaluation.settings import EvalSettings
from recgpt.explain.v1 import explain_pb2_grpc
from recgpt.intent.v1 import intent_pb2_grpc
from recgpt.judge.v1 import judge_pb2_grpc
from recgpt.retrieval.v1 import retrieval_pb2_grpc
from recgpt.tags.v1 import tags_pb2_grpc
from recgpt_serving import grpc_client, service_names


@dataclass
class EvalStubs:
    intent: intent_pb2_grpc.IntentServiceStub
    tags: tags_pb2_grpc.TagsServiceStub
    retrieval: retrieval_pb2_grpc.RetrievalServiceStub
    explain: explain_pb2_grpc.ExplainServiceStub
    judge: judge_pb2_grpc.JudgeServiceStub
    channels: list[grpc.aio.Channel]

    @classmethod
    def connect(cls, settings: EvalSettings) -> EvalStubs:
        intent = grpc_client.channel(settings.intent_target, service_names.INTENT)
        tags = grpc_client.channel(settings.tags_target, service_names.TAGS)
        retrieval = grpc_client.channel(settings.retrieval_target, service_names.RETRIEVAL)
        explain = grpc_client.channel(settings.explain_target, service_names.EXPLAIN)
        judge = grpc_client.channel(settings.judge_target, service_names.JUDGE)
        return cls(
            intent=intent_pb2_grpc.IntentServiceStub(intent),  # type: ignore[no-untyped-call]
            tags=tags_pb2_grpc.TagsServiceStub(tags),  # type: ignore[no-untyped-call]
            retrieval=retrieval_pb2_grpc.RetrievalServiceStub(retrieval),  # type: ignore[no-untyped-call]
            explain=explain_pb2_grpc.ExplainServiceStub(explain),  # type: ignore[no-untyped-call]
            judge=judge_pb2_grpc.JudgeServiceStub(judge),  # type: ignore[no-untyped-call]
            channels=[intent, tags, retrieval, explain, judge],
        )

    async def close(self) -> None:
        for channel in self.channels:
            await channel.close()
