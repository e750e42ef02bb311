"""Live judge sampling: a share of recgpt-v1 answers goes to the judge in the background, bounded in number;
the response never waits for it."""

from __future__ import annotations

import asyncio
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
from tests.polling import until

V1 = {"user_id": "ann", "n": 5, "variant": "recgpt-v1"}


def samples(outcome: str) -> float:
    return sample("recgpt_live_judge_samples_total", {"outcome": outcome})


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
    release = asyncio.Event()
    judge.faults["Judge"] = Fault(hold=release)  # an LLM that answers only when the test says so
    gateway = await judged_gateway(gateway_factory, explain_server, judge_server, judge_sample_share=1.0)
    started, done = samples("started"), samples("done")

    response = await gateway.post(URL, json=V1)

    # Answered while the judge still holds the call: the answer did not wait for it.
    assert response.status_code == 200, response.text
    assert samples("started") == started + 1
    await until(lambda: len(judge.calls_of("Judge")) == 1)
    assert judge.finished == 0
    release.set()
    await until(lambda: judge.finished == 1 and samples("done") == done + 1)
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
    started, not_sampled = samples("started"), samples("not_sampled")

    for _ in range(3):
        response = await gateway.post(URL, json=V1)
        assert response.status_code == 200, response.text
        assert any(item["explanation"] for item in response.json()["items"])

    # Each answer with explanations was offered to the judge and left out, before the answer returned;
    # no call was started, so none can come later.
    assert samples("not_sampled") == not_sampled + 3
    assert samples("started") == started
    assert judge_server.servicer.calls == []


async def test_samples_beyond_max_in_flight_are_skipped(
    gateway_factory: Callable[..., Any],
    explain_server: FakeServer[FakeExplain],
    judge_server: FakeServer[FakeJudge],
    redis_client: aioredis.Redis,
    redis_prefix: str,
) -> None:
    await store_profile(redis_client, redis_prefix, "ann")
    release = asyncio.Event()
    judge_server.servicer.faults["Judge"] = Fault(hold=release)  # both calls in flight until released
    gateway = await judged_gateway(
        gateway_factory, explain_server, judge_server, judge_sample_share=1.0, judge_max_in_flight=2
    )
    started, busy, done = samples("started"), samples("skipped_busy"), samples("done")

    for _ in range(5):
        assert (await gateway.post(URL, json=V1)).status_code == 200

    assert samples("started") == started + 2
    assert samples("skipped_busy") == busy + 3
    release.set()
    # Both calls ran to completion, and no third was ever started to come later.
    await until(lambda: samples("done") == done + 2)
    assert len(judge_server.servicer.calls) == 2


async def test_close_cancels_calls_in_flight_and_failures_are_counted(
    settings: GatewaySettings, judge_server: FakeServer[FakeJudge]
) -> None:
    judge_server.servicer.faults["Judge"] = Fault(hold=asyncio.Event())  # never answers
    channel = grpc_client.channel(judge_server.target, JUDGE_SERVICE)
    stub = judge_pb2_grpc.JudgeServiceStub(channel)  # type: ignore[no-untyped-call]
    subject = [("biology", common_pb2.Item(item_id="item-1"), "Because.")]
    try:
        slow = LiveJudge(stub, settings.model_copy(update={"judge_sample_share": 1.0}))
        assert slow.maybe_sample("ann", subject)
        await until(lambda: len(judge_server.servicer.calls) == 1)
        async with asyncio.timeout(5):  # the call would never end by itself: close cancels it
            await slow.close()
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
