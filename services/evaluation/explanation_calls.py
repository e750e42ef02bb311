"""The explain and judge calls of a benchmark: one explanation per (user, interest, item, situation), the
cache bypassed, then each judged by agent-as-a-judge in the situation it was written for.

Shared by `make bench-explanations` (one item for several shoppers) and `make bench-v2` (each variant's users,
items from their own tags). A failed call is counted, never fatal: the benchmark reports what it got.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import grpc

from evaluation.explanation_quality import ExplanationRecord, LlmCost, judge_request, record
from recgpt.common.v1 import common_pb2
from recgpt.explain.v1 import explain_pb2
from recgpt.judge.v1 import judge_pb2
from recgpt_serving.llm.usage import Usage
from recgpt_serving.service_stubs import ServiceStubsWithJudge

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Ask:
    user_id: str
    interest: str
    item_id: str
    situation: dict[str, str]


@dataclass(frozen=True)
class Explained:
    """What one method's explain calls made, what they cost, and how many failed."""

    made: list[tuple[Ask, explain_pb2.Explanation]]
    cost: LlmCost
    failed: int


@dataclass(frozen=True)
class Judged:
    records: list[ExplanationRecord]
    cost: LlmCost
    failed: int


def _cost(usage: Usage) -> LlmCost:
    return LlmCost(usage.prompt_tokens, usage.completion_tokens, usage.engine_seconds)


async def explain_all(
    stubs: ServiceStubsWithJudge,
    method: explain_pb2.Method,
    pending: Sequence[Ask],
    deadline_s: float,
    concurrency: int,
) -> Explained:
    """One request per ask (a request carries one situation), `concurrency` at a time."""
    slots = asyncio.Semaphore(concurrency)
    usage = Usage()
    failed = 0

    async def one(ask: Ask) -> tuple[Ask, explain_pb2.Explanation] | None:
        nonlocal failed
        request = explain_pb2.ExplainRequest(
            user_id=ask.user_id,
            method=method,
            pairs=[explain_pb2.ExplainPair(interest=ask.interest, item_id=ask.item_id)],
            situation=ask.situation,
            bypass_cache=True,
        )
        async with slots:
            try:
                reply = await stubs.explain.Explain(request, timeout=deadline_s)
            except grpc.aio.AioRpcError as error:
                log.warning("explain failed", extra={"code": error.code().name, "details": error.details()})
                failed += 1
                return None
        usage.add(reply.usage)
        return (ask, reply.explanations[0]) if reply.explanations else None

    made = [entry for entry in await asyncio.gather(*(one(a) for a in pending)) if entry is not None]
    return Explained(made, _cost(usage), failed)


async def judge_all(
    stubs: ServiceStubsWithJudge,
    made: Sequence[tuple[Ask, explain_pb2.Explanation]],
    items: Mapping[str, common_pb2.Item],
    deadline_s: float,
    concurrency: int,
) -> Judged:
    """Agent-as-a-judge on every explanation; one whose call fails is recorded as not judged."""
    slots = asyncio.Semaphore(concurrency)
    usage = Usage()
    failed = 0

    async def one(ask: Ask, explanation: explain_pb2.Explanation) -> ExplanationRecord:
        nonlocal failed
        request = judge_request([explanation], items, ask.situation, user_id=ask.user_id)
        async with slots:
            try:
                reply = await stubs.judge.Judge(request, timeout=deadline_s)
            except grpc.aio.AioRpcError as error:
                log.warning("judge failed", extra={"code": error.code().name, "details": error.details()})
                failed += 1
                return record(explanation, None)
        usage.add(reply.usage)
        judgement: judge_pb2.Judgement | None = reply.judgements[0] if reply.judgements else None
        return record(explanation, judgement)

    records = await asyncio.gather(*(one(a, e) for a, e in made))
    return Judged(list(records), _cost(usage), failed)
