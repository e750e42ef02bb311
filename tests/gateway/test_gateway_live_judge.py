"""Live judge sampling: a share of recgpt-v1 answers goes to the judge in the background, bounded in number;
the response never waits for it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import httpx
import redis.asyncio as aioredis

from gateway.clients import JUDGE_SERVICE
from gateway.pipelines.live_judge import LiveJudge
from gateway.settings import GatewaySettings
from recgpt.common.v1 import common_pb2
from recgpt.judge.v1 import judge_pb2, judge_pb2_grpc
from recgpt_serving import grpc_client
from tests.gateway.gateway_fakes import FakeExplain, FakeJudge, FakeServer, Fault, explanation_text
from tests.gateway.recgpt_v1_helpers import URL, sample, store_profile

V1 = {"user_id": "ann", "n": 5, "variant": "recgpt-v1"}


def samples(outcome: str) -> float:
    return sample("recgpt_live_judge_samples_total", {"outcome": outcome})


async def until(condition: Callable[[], bool], timeout_s: float = 3.0) -> None:
    """Polls: the conditions are counters of another task, with no event to wait on."""
    async with asyncio.timeout(timeout_s):
        while not condition():  # noqa: ASYNC110
            await asyncio.sleep(0.01)


async def judged_gateway(
    factory: Callable[..., Any],
    explain: FakeServer[FakeExplain],
    judge: FakeServer[FakeJudge],
    **overrides: Any,
) -> httpx.AsyncClient:
    client: httpx.AsyncClient = await factory(
        explain_target=explain.target, judge_target=judge.target, recgpt_v1_beta=0.3, **overrides
    )
    return client


async def test_a_sampled_answer_is_judged_in_the_background(
    gateway_factory: Callable[..., Any],
    explain_server: FakeServer[FakeExplain],
    judge_server: FakeServer[FakeJudge],
    redis_client: aioredis.Redis,
    redis_prefix: str,
) -> None:
    await store_profile(redis_client, redis_prefix, "ann")
    judge = judge_server.servicer
    judge.faults["Judge"] = Fault(delay_s=0.5)  # a slow LLM
    gateway = await judged_gateway(gateway_factory, explain_server, judge_server, judge_sample_share=1.0)
    started, done = samples("started"), samples("done")

    start = time.perf_counter()
    response = await gateway.post(URL, json=V1)
    elapsed = time.perf_counter() - start

    assert response.status_code == 200, response.text
    assert elapsed < 0.4
    assert judge.finished == 0  # the answer did not wait for the judge
    assert samples("started") == started + 1
    await until(lambda: judge.finished == 1)
    await until(lambda: samples("done") == done + 1)
    [call] = judge.calls_of("Judge")
    request: judge_pb2.JudgeRequest = call.request
    assert (request.user_id, request.source, request.method) == ("ann", "live", judge_pb2.METHOD_RECGPT_V1)
    subjects = list(request.explanations.explanations)
    items = response.json()["items"]
    assert [subject.item.item_id for subject in subjects] == [item["item_id"] for item in items]
    assert subjects[0].interest == items[0]["interest"]
    assert subjects[0].text == explanation_text(items[0]["interest"], items[0]["item_id"])
    assert subjects[0].item.title == items[0]["title"]


async def test_share_zero_never_calls_the_judge(
    gateway_factory: Callable[..., Any],
    explain_server: FakeServer[FakeExplain],
    judge_server: FakeServer[FakeJudge],
    redis_client: aioredis.Redis,
    redis_prefix: str,
) -> None:
    await store_profile(redis_client, redis_prefix, "ann")
    gateway = await judged_gateway(gateway_factory, explain_server, judge_server, judge_sample_share=0.0)

    for _ in range(3):
        assert (await gateway.post(URL, json=V1)).status_code == 200
    await asyncio.sleep(0.1)

    assert judge_server.servicer.calls == []


async def test_samples_beyond_max_in_flight_are_skipped(
    gateway_factory: Callable[..., Any],
    explain_server: FakeServer[FakeExplain],
    judge_server: FakeServer[FakeJudge],
    redis_client: aioredis.Redis,
    redis_prefix: str,
) -> None:
    await store_profile(redis_client, redis_prefix, "ann")
    judge_server.servicer.faults["Judge"] = Fault(delay_s=1.0)
    gateway = await judged_gateway(
        gateway_factory, explain_server, judge_server, judge_sample_share=1.0, judge_max_in_flight=2
    )
    started, busy = samples("started"), samples("skipped_busy")

    for _ in range(5):
        assert (await gateway.post(URL, json=V1)).status_code == 200
    await until(lambda: len(judge_server.servicer.calls) == 2)
    await asyncio.sleep(0.05)

    assert len(judge_server.servicer.calls) == 2
    assert samples("started") == started + 2
    assert samples("skipped_busy") == busy + 3


async def test_close_cancels_calls_in_flight_and_failures_are_counted(
    settings: GatewaySettings, judge_server: FakeServer[FakeJudge]
) -> None:
    judge_server.servicer.faults["Judge"] = Fault(delay_s=5.0)
    channel = grpc_client.channel(judge_server.target, JUDGE_SERVICE)
    stub = judge_pb2_grpc.JudgeServiceStub(channel)  # type: ignore[no-untyped-call]
    subject = [("biology", common_pb2.Item(item_id="item-1"), "Because.")]
    try:
        slow = LiveJudge(stub, settings.model_copy(update={"judge_sample_share": 1.0}))
        assert slow.maybe_sample("ann", subject)
        await until(lambda: len(judge_server.servicer.calls) == 1)
        start = time.perf_counter()
        await slow.close()
        assert time.perf_counter() - start < 0.5
        assert not slow.tasks

        failed = samples("failed")
        hasty = LiveJudge(
            stub, settings.model_copy(update={"judge_sample_share": 1.0, "judge_deadline_s": 0.05})
        )
        assert hasty.maybe_sample("ann", subject)
        await until(lambda: samples("failed") == failed + 1)
        # Never sampled: no subjects, or no judge configured.
        assert not hasty.maybe_sample("ann", [])
        assert not LiveJudge(None, settings.model_copy(update={"judge_sample_share": 1.0})).maybe_sample(
            "ann", subject
        )
    finally:
        await channel.close()
