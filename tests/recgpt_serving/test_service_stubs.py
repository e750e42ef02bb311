"""The stubs a job calls every service with: each reaches its own target's service, and all close together."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass

import grpc
import pytest

from recgpt.explain.v1 import explain_pb2, explain_pb2_grpc
from recgpt.intent.v1 import intent_pb2, intent_pb2_grpc
from recgpt.judge.v1 import judge_pb2, judge_pb2_grpc
from recgpt.retrieval.v1 import retrieval_pb2, retrieval_pb2_grpc
from recgpt.tags.v1 import tags_pb2, tags_pb2_grpc
from recgpt_serving import service_names
from recgpt_serving.service_stubs import ServiceStubs, ServiceStubsWithJudge
from tests.grpc_servers import registration, serving


@dataclass(frozen=True)
class Targets:
    retrieval_target: str
    intent_target: str
    tags_target: str
    explain_target: str
    judge_target: str


@pytest.fixture
async def targets() -> AsyncIterator[Targets]:
    """Every service on its own port, each answering UNIMPLEMENTED (the generated servicers' default)."""
    services = [
        (
            retrieval_pb2_grpc.RetrievalServiceServicer(),
            retrieval_pb2_grpc.add_RetrievalServiceServicer_to_server,
            service_names.RETRIEVAL,
        ),
        (
            intent_pb2_grpc.IntentServiceServicer(),
            intent_pb2_grpc.add_IntentServiceServicer_to_server,
            service_names.INTENT,
        ),
        (
            tags_pb2_grpc.TagsServiceServicer(),
            tags_pb2_grpc.add_TagsServiceServicer_to_server,
            service_names.TAGS,
        ),
        (
            explain_pb2_grpc.ExplainServiceServicer(),
            explain_pb2_grpc.add_ExplainServiceServicer_to_server,
            service_names.EXPLAIN,
        ),
        (
            judge_pb2_grpc.JudgeServiceServicer(),
            judge_pb2_grpc.add_JudgeServiceServicer_to_server,
            service_names.JUDGE,
        ),
    ]
    async with AsyncExitStack() as stack:
        served = [await stack.enter_async_context(serving(registration(*service))) for service in services]
        yield Targets(*(each.target for each in served))


async def reaches_its_service(call: grpc.aio.UnaryUnaryCall) -> bool:
    """A service that is not registered where the call went answers "Method not found!" instead."""
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await call
    return raised.value.code() == grpc.StatusCode.UNIMPLEMENTED and "not implemented" in str(
        raised.value.details()
    )


async def test_each_stub_reaches_its_own_service(targets: Targets) -> None:
    stubs = ServiceStubsWithJudge(targets)
    try:
        assert len(stubs.channels) == 5
        assert await reaches_its_service(stubs.retrieval.Search(retrieval_pb2.SearchRequest(), timeout=5))
        assert await reaches_its_service(
            stubs.intent.MineInterests(intent_pb2.MineInterestsRequest(), timeout=5)
        )
        assert await reaches_its_service(stubs.tags.PredictTags(tags_pb2.PredictTagsRequest(), timeout=5))
        assert await reaches_its_service(stubs.explain.Explain(explain_pb2.ExplainRequest(), timeout=5))
        assert await reaches_its_service(stubs.judge.Judge(judge_pb2.JudgeRequest(), timeout=5))
    finally:
        await stubs.close()


async def test_the_pipeline_stubs_need_no_judge_and_close_every_channel(targets: Targets) -> None:
    stubs = ServiceStubs(targets)
    assert not hasattr(stubs, "judge")
    assert len(stubs.channels) == 4
    await stubs.close()
    with pytest.raises(grpc.aio.UsageError):
        await stubs.intent.MineInterests(intent_pb2.MineInterestsRequest(), timeout=5)
