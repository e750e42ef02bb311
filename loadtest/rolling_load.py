"""The steady load of the rolling-restart drill, and how each request is counted.

Two kinds of caller, as in a cluster:
- `GrpcLoad`: a service calling retrieval through the platform's own channel (`recgpt_serving.grpc_client`:
  round_robin over every replica address, skipping one whose health says NOT_SERVING, UNAVAILABLE retried);
- `HttpLoad`: callers reaching the gateway replicas through a load balancer that sends only to replicas
  whose /readyz answered 200 at its last probe, one probe per replica every `probe_s` (a Service's
  endpoints, which follow readiness and pod deletion a moment late). It never retries a request.

A request fails when it gets no answer, a gRPC status other than OK, or an HTTP status other than 200.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections import Counter
from dataclasses import dataclass, field

import aiohttp
import grpc

from recgpt.retrieval.v1 import retrieval_pb2, retrieval_pb2_grpc
from recgpt_serving import grpc_client, service_names

QUERIES = ("microscope", "lab coat", "pipette", "safety glasses", "beaker", "centrifuge")
VARIANTS = ("baseline", "recgpt-v1")


@dataclass
class Tally:
    """What a load saw: answers, and failures by why (a gRPC status name, an HTTP status, `no_answer`)."""

    ok: int = 0
    failed: Counter[str] = field(default_factory=Counter)
    # HTTP answers that were 200 but lacked a part (`degraded` named something).
    degraded: int = 0

    @property
    def failures(self) -> int:
        return sum(self.failed.values())

    def since(self, earlier: Tally) -> Tally:
        return Tally(self.ok - earlier.ok, self.failed - earlier.failed, self.degraded - earlier.degraded)

    def copy(self) -> Tally:
        return Tally(self.ok, Counter(self.failed), self.degraded)


async def _paced(rate: float, stop: asyncio.Event, send: object) -> None:
    """Starts `send()` `rate` times a second (open loop) until stopped, then waits for those in flight."""
    assert callable(send)
    loop = asyncio.get_running_loop()
    in_flight: set[asyncio.Task[None]] = set()
    due = loop.time()
    while not stop.is_set():
        task = asyncio.create_task(send())
        in_flight.add(task)
        task.add_done_callback(in_flight.discard)
        due += 1 / rate
        await asyncio.sleep(max(0.0, due - loop.time()))
    await asyncio.gather(*in_flight)


class GrpcLoad:
    """Search calls to the retrieval replicas at `targets` through one balanced channel."""

    def __init__(self, targets: list[str], rate: float, deadline_s: float = 2.0) -> None:
        self.target = "ipv4:" + ",".join(targets)
        self.rate = rate
        self.deadline_s = deadline_s
        self.tally = Tally()
        self._queries = itertools.cycle(QUERIES)

    async def run(self, stop: asyncio.Event) -> None:
        async with grpc_client.channel(self.target, service_names.RETRIEVAL) as channel:
            stub = retrieval_pb2_grpc.RetrievalServiceStub(channel)  # type: ignore[no-untyped-call]

            async def send() -> None:
                request = retrieval_pb2.SearchRequest(
                    texts=retrieval_pb2.TextQueries(texts=[next(self._queries)]), top_k=10
                )
                try:
                    await stub.Search(request, timeout=self.deadline_s)
                except grpc.aio.AioRpcError as error:
                    self.tally.failed[error.code().name] += 1
                else:
                    self.tally.ok += 1

            await _paced(self.rate, stop, send)


class HttpLoad:
    """POST /v1/recommend to the gateway replicas that were ready at the balancer's last probe."""

    def __init__(
        self, bases: list[str], users: list[str], headers: dict[str, str], rate: float, probe_s: float
    ) -> None:
        self.bases = bases
        self.users = users
        self.headers = headers
        self.rate = rate
        self.probe_s = probe_s
        self.ready: set[str] = set()
        self.tally = Tally()
        self._turn = itertools.count()

    async def run(self, stop: asyncio.Event) -> None:
        timeout = aiohttp.ClientTimeout(total=5)
        async with aiohttp.ClientSession(timeout=timeout, headers=self.headers) as session:
            prober = asyncio.create_task(self._probe(session, stop))
            try:
                await _paced(self.rate, stop, lambda: self._send(session))
            finally:
                prober.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await prober

    async def _probe(self, session: aiohttp.ClientSession, stop: asyncio.Event) -> None:
        while not stop.is_set():
            answers = await asyncio.gather(*(self._ready(session, base) for base in self.bases))
            self.ready = {base for base, ready in zip(self.bases, answers, strict=True) if ready}
            await asyncio.sleep(self.probe_s)

    @staticmethod
    async def _ready(session: aiohttp.ClientSession, base: str) -> bool:
        try:
            async with session.get(f"{base}/readyz", timeout=aiohttp.ClientTimeout(total=1)) as response:
                return response.status == 200
        except (aiohttp.ClientError, TimeoutError):
            return False

    async def _send(self, session: aiohttp.ClientSession) -> None:
        ready = sorted(self.ready)
        if not ready:
            self.tally.failed["no_ready_replica"] += 1
            return
        turn = next(self._turn)
        base = ready[turn % len(ready)]
        body = {"user_id": self.users[turn % len(self.users)], "n": 10, "variant": VARIANTS[turn % 2]}
        try:
            async with session.post(f"{base}/v1/recommend", json=body) as response:
                payload = await response.json(content_type=None)
                status = response.status
        except (aiohttp.ClientError, TimeoutError, ValueError):
            self.tally.failed["no_answer"] += 1
            return
        if status != 200:
            self.tally.failed[str(status)] += 1
            return
        self.tally.ok += 1
        if isinstance(payload, dict) and payload.get("degraded"):
            self.tally.degraded += 1
