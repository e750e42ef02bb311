"""Admission control: past the in-flight cap a request waits at most the queueing deadline, then gets a fast
503; while the event loop lags past that deadline, new requests are refused at once."""

from __future__ import annotations

import asyncio
import time

import httpx
from prometheus_client import REGISTRY
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.admission import AdmissionMiddleware, LoopLag, Pool


def rejected(reason: str) -> float:
    return REGISTRY.get_sample_value("recgpt_gateway_rejected_total", {"reason": reason}) or 0.0


class SlowApp:
    """Answers 200 after `hold_s`, counting how many it serves at once."""

    def __init__(self, hold_s: float) -> None:
        self.hold_s = hold_s
        self.now = 0
        self.most = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.now += 1
        self.most = max(self.most, self.now)
        await asyncio.sleep(self.hold_s)
        self.now -= 1
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


def admission(
    app: ASGIApp, *, max_in_flight: int, queue_deadline_s: float, lag: LoopLag | None = None, **pools: int
) -> AdmissionMiddleware:
    return AdmissionMiddleware(
        app,
        default=Pool("default", max_in_flight),
        pools={f"/{path}": Pool(path, size) for path, size in pools.items()},
        queue_deadline_s=queue_deadline_s,
        overload_lag_s=0.02,
        lag=lag or LoopLag(),
        exempt_paths={"/readyz"},
    )


def client(app: AdmissionMiddleware) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway")


async def test_past_the_cap_requests_wait_their_deadline_then_get_a_fast_503() -> None:
    inner = SlowApp(hold_s=0.3)
    app = admission(inner, max_in_flight=2, queue_deadline_s=0.05)
    before = rejected("queue_timeout")
    async with client(app) as gateway:

        async def timed() -> tuple[int, float, str]:
            began = time.perf_counter()
            answer = await gateway.get("/v1/recommend")
            return answer.status_code, time.perf_counter() - began, answer.headers.get("retry-after", "")

        answers = await asyncio.gather(*(timed() for _ in range(6)))

    served = [a for a in answers if a[0] == 200]
    refused = [a for a in answers if a[0] == 503]
    assert len(served) == 2 and len(refused) == 4
    assert inner.most == 2
    # Refused at the queueing deadline, long before a slot would have come free.
    assert all(elapsed < 0.25 and retry == "1" for _, elapsed, retry in refused)
    assert rejected("queue_timeout") == before + 4
    assert app.default.in_flight == 0


async def test_a_waiting_request_takes_the_slot_that_frees_within_its_deadline() -> None:
    inner = SlowApp(hold_s=0.05)
    app = admission(inner, max_in_flight=1, queue_deadline_s=1.0)
    async with client(app) as gateway:
        answers = await asyncio.gather(*(gateway.get("/v1/recommend") for _ in range(5)))
    assert [a.status_code for a in answers] == [200] * 5
    assert inner.most == 1 and app.default.in_flight == 0


async def test_a_lagging_loop_refuses_new_requests_at_once_but_not_probes() -> None:
    lag = LoopLag()
    lag.lag_s = 0.5  # as measured while the CPU is saturated
    app = admission(SlowApp(hold_s=0), max_in_flight=10, queue_deadline_s=0.02, lag=lag)
    before = rejected("overloaded")
    async with client(app) as gateway:
        shed = await gateway.get("/v1/recommend")
        probe = await gateway.get("/readyz")
    assert shed.status_code == 503 and "overloaded" in shed.json()["reason"]
    assert shed.headers["retry-after"] == "1"
    assert probe.status_code == 200
    assert rejected("overloaded") == before + 1


async def test_the_loop_lag_is_measured() -> None:
    lag = LoopLag(interval_s=0.005, smoothing=0.5)
    lag.start()
    try:
        await asyncio.sleep(0.02)
        assert lag.lag_s < 0.05
        time.sleep(0.1)  # noqa: ASYNC251 (the loop blocked on purpose, as by a burst of CPU work)
        await asyncio.sleep(0.001)  # the tick that was due runs now, late
        assert lag.lag_s > 0.04
    finally:
        await lag.close()


async def test_slow_commands_have_slots_of_their_own() -> None:
    """Commands that wait on the LLM fill their own pool; recommendations still find a slot."""
    inner = SlowApp(hold_s=0.3)
    app = admission(inner, max_in_flight=2, queue_deadline_s=0.05, command=2)
    async with client(app) as gateway:
        commands = [asyncio.create_task(gateway.get("/command")) for _ in range(3)]
        await asyncio.sleep(0.05)
        recommendations = await asyncio.gather(*(gateway.get("/v1/recommend") for _ in range(2)))
        answered = await asyncio.gather(*commands)
    assert [a.status_code for a in recommendations] == [200, 200]
    assert sorted(a.status_code for a in answered) == [200, 200, 503]
