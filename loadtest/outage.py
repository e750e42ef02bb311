"""Outage drill: Redis hung, Redis down and retrieval down, each under load, with the real processes.

    python -m loadtest.outage --catalogue var/catalogue --index var/index [--rate 40] [--outage-s 10]

Starts a redis-server of its own (free port) with the catalogue's behaviour, the real retrieval service and
the real gateway (free callers' and operators' ports, a keys file of its own in the workdir: the load
presents its key), and sends POST /v1/recommend at a fixed rate (known users and a share of unknown ones,
baseline and recgpt-v1 alternately) throughout. Then, one after the other:

- redis-hung:     SIGSTOP the redis-server for --outage-s seconds, then SIGCONT;
- redis-down:     SIGKILL it, and after --outage-s start a new one on the same port and reload the behaviour;
- retrieval-down: SIGKILL the retrieval process, and after --outage-s start it again.

For each it prints the requests sent from the fault on, how many answered 5xx or not at all, how many were
degraded, and the time from the dependency's return to full answers again (the first of --settle answers in
a row that are 200 with nothing in `degraded`). For retrieval, whose start-up loads a model and an index, it
also gives that time counted from the moment the restarted service reported SERVING. One JSON line follows
the table. Exits non-zero when a scenario saw a 5xx, an unanswered request, or no return to full answers.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from loadtest import gateway_access
from recgpt_domain.catalogue import iter_histories
from recgpt_domain.datasets.redis_loader import load_behaviour
from recgpt_tools import redis_server

RETRIEVAL_SERVICE = "recgpt.retrieval.v1.RetrievalService"
PREFIX = "recgpt-outage"
VARIANTS = ("baseline", "recgpt-v1")
# Unknown users among the requests: they answer popular items, and must not fail either.
UNKNOWN_USERS = tuple(f"outage-unknown-{k}" for k in range(5))


class DrillError(RuntimeError):
    """The drill could not run (a process did not start); the message says why."""


@dataclass(frozen=True)
class DrillSettings:
    catalogue_dir: Path
    index_dir: Path
    # Logs and the redis-server's folder.
    workdir: Path
    rate: float = 40.0
    outage_s: float = 10.0
    # Load before each fault, so that each scenario starts from full answers.
    steady_s: float = 2.0
    # Answers in a row, 200 and not degraded, that say the answers are full again.
    settle: int = 40
    # Give up waiting for full answers after this long (the scenario then fails).
    recovery_limit_s: float = 180.0
    # Build the index at the first start of retrieval when it is missing (a fresh catalogue).
    build_index: bool = False
    n: int = 10
    unknown_share: float = 0.2
    start_timeout_s: float = 300.0


@dataclass(frozen=True)
class Answer:
    sent_at: float
    # 0: no answer (connection refused, reset, or past the client's timeout).
    status: int
    degraded: tuple[str, ...]

    @property
    def full(self) -> bool:
        return self.status == 200 and not self.degraded


@dataclass
class ScenarioReport:
    name: str
    requests: int
    server_errors: int
    unanswered: int
    degraded: int
    # How often each name appeared in `degraded` during the scenario.
    degraded_names: dict[str, int]
    outage_s: float
    # From the restore to the dependency answering again (PING, or SERVING for retrieval).
    back_after_s: float
    # From the restore to the first of `settle` full answers in a row; None: never within the limit.
    full_again_s: float | None

    @property
    def full_again_after_back_s(self) -> float | None:
        if self.full_again_s is None:
            return None
        return max(0.0, self.full_again_s - self.back_after_s)

    @property
    def passed(self) -> bool:
        return self.server_errors == 0 and self.unanswered == 0 and self.full_again_s is not None

    def summary(self) -> dict[str, Any]:
        return {
            "scenario": self.name,
            "requests": self.requests,
            "server_errors": self.server_errors,
            "unanswered": self.unanswered,
            "degraded": self.degraded,
            "degraded_names": self.degraded_names,
            "outage_s": round(self.outage_s, 2),
            "back_after_s": round(self.back_after_s, 2),
            "full_again_s": None if self.full_again_s is None else round(self.full_again_s, 2),
            "full_again_after_back_s": (
                None if self.full_again_after_back_s is None else round(self.full_again_after_back_s, 2)
            ),
        }


@dataclass
class Load:
    """POST /v1/recommend at a fixed rate (open loop) until stopped; every answer recorded by send time."""

    url: str
    users: list[str]
    rate: float
    n: int
    unknown_share: float
    # Sent with every request: the API key.
    headers: dict[str, str] = field(default_factory=dict)
    answers: list[Answer] = field(default_factory=list)
    # Send times of the requests still waiting for an answer.
    pending: set[float] = field(default_factory=set)

    async def run(self, stop: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        timeout = aiohttp.ClientTimeout(total=5)
        in_flight: set[asyncio.Task[None]] = set()
        async with aiohttp.ClientSession(timeout=timeout, headers=self.headers) as session:
            due = loop.time()
            for count in _count():
                if stop.is_set():
                    break
                body = self._body(count)
                task = asyncio.create_task(self._send(session, body))
                in_flight.add(task)
                task.add_done_callback(in_flight.discard)
                due += 1 / self.rate
                await asyncio.sleep(max(0.0, due - loop.time()))
            await asyncio.gather(*in_flight)

    def _body(self, count: int) -> dict[str, Any]:
        unknown = (count * 7919 % 100) < self.unknown_share * 100
        users = UNKNOWN_USERS if unknown else self.users
        return {
            "user_id": users[count % len(users)],
            "n": self.n,
            "variant": VARIANTS[count % len(VARIANTS)],
        }

    async def _send(self, session: aiohttp.ClientSession, body: dict[str, Any]) -> None:
        sent_at = time.monotonic()
        self.pending.add(sent_at)
        status = 0
        degraded: tuple[str, ...] = ()
        try:
            async with session.post(self.url, json=body) as response:
                payload = await response.json(content_type=None)
                status = response.status
                if isinstance(payload, dict):
                    degraded = tuple(str(name) for name in payload.get("degraded") or ())
        except (aiohttp.ClientError, TimeoutError, ValueError):
            pass
        finally:
            self.pending.discard(sent_at)
        self.answers.append(Answer(sent_at, status, degraded))

    def settled(self) -> list[Answer]:
        """Answers by send time, up to the oldest request still waiting (its answer might come between)."""
        horizon = min(self.pending, default=float("inf"))
        return sorted((a for a in self.answers if a.sent_at < horizon), key=lambda a: a.sent_at)


def _count() -> Iterator[int]:
    count = 0
    while True:
        yield count
        count += 1


def first_full_run(answers: list[Answer], since: float, settle: int) -> float | None:
    """Send time of the first answer after `since` that opens `settle` full answers in a row."""
    run_start: float | None = None
    run = 0
    for answer in answers:
        if answer.sent_at < since:
            continue
        if answer.full:
            run_start = answer.sent_at if run == 0 else run_start
            run += 1
            if run >= settle:
                return run_start
        else:
            run = 0
    return None


class OutageDrill:
    """The processes of the drill: redis-server, retrieval and gateway, each stoppable and restartable."""

    def __init__(self, settings: DrillSettings) -> None:
        self.settings = settings
        settings.workdir.mkdir(parents=True, exist_ok=True)
        self.redis_port = redis_server.free_port()
        self.retrieval_port = redis_server.free_port()
        self.gateway_port = redis_server.free_port()
        self.gateway_internal_port = redis_server.free_port()
        # The drill's own keys (hashes only in the file; the key itself stays in this process).
        self.keys = gateway_access.write_own_keys(settings.workdir / "api-keys.json")
        self.redis: subprocess.Popen[bytes] | None = None
        self.retrieval: subprocess.Popen[bytes] | None = None
        self.gateway: subprocess.Popen[bytes] | None = None
        self.load = Load(
            f"http://127.0.0.1:{self.gateway_port}/v1/recommend",
            [history.user_id for history in iter_histories(settings.catalogue_dir)],
            settings.rate,
            settings.n,
            settings.unknown_share,
            gateway_access.bearer(self.keys.api_key),
        )
        self._stop_load = asyncio.Event()
        self._load_task: asyncio.Task[None] | None = None

    @property
    def redis_url(self) -> str:
        return f"redis://127.0.0.1:{self.redis_port}/0"

    async def __aenter__(self) -> OutageDrill:
        try:
            await self.start_redis()
            await self.start_retrieval()
            self.gateway = self._spawn("gateway", "gateway", self._gateway_env())
            await self._wait_gateway()
            self._load_task = asyncio.create_task(self.load.run(self._stop_load))
            await self._wait_full(time.monotonic(), "the first full answers")
        except BaseException:
            await self.__aexit__()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._stop_load.set()
        if self._load_task is not None:
            await self._load_task
        for process in (self.gateway, self.retrieval, self.redis):
            if process is not None and process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(process.pid, signal.SIGCONT)  # a stopped process cannot act on SIGTERM
                process.terminate()
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()

    # The dependencies, stopped and started again.

    async def start_redis(self) -> None:
        workdir = self.settings.workdir / "redis"
        log = self.settings.workdir / "redis.log"
        self.redis = await asyncio.to_thread(redis_server.start, self.redis_port, workdir, log)
        await asyncio.to_thread(load_behaviour, self.settings.catalogue_dir, self.redis_url, PREFIX)

    def hang_redis(self) -> None:
        os.kill(self._running(self.redis).pid, signal.SIGSTOP)

    def resume_redis(self) -> None:
        os.kill(self._running(self.redis).pid, signal.SIGCONT)

    def kill_redis(self) -> None:
        process = self._running(self.redis)
        process.kill()
        process.wait()

    async def redis_answers(self) -> None:
        await asyncio.to_thread(redis_server.wait_ready, self.redis_port, self.settings.start_timeout_s)

    async def start_retrieval(self) -> None:
        self.retrieval = self._spawn("retrieval", "retrieval", self._retrieval_env())
        await self.retrieval_serving()

    def kill_retrieval(self) -> None:
        process = self._running(self.retrieval)
        process.kill()
        process.wait()

    async def retrieval_serving(self) -> None:
        deadline = time.monotonic() + self.settings.start_timeout_s
        request = health_pb2.HealthCheckRequest(service=RETRIEVAL_SERVICE)
        async with grpc.aio.insecure_channel(f"127.0.0.1:{self.retrieval_port}") as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            while time.monotonic() < deadline:
                if self.retrieval is not None and self.retrieval.poll() is not None:
                    raise DrillError(f"retrieval exited; see {self.settings.workdir / 'retrieval.log'}")
                with contextlib.suppress(grpc.aio.AioRpcError):
                    reply = await stub.Check(request, timeout=1)
                    if reply.status == health_pb2.HealthCheckResponse.SERVING:
                        return
                await asyncio.sleep(0.1)
        raise DrillError("retrieval never reported SERVING")

    # Scenarios.

    async def run(
        self,
        name: str,
        fault: Callable[[], None],
        restore: Callable[[], Awaitable[None]],
        back: Callable[[], Awaitable[None]],
    ) -> ScenarioReport:
        """Full answers, the fault for `outage_s`, the restore; measured until answers are full again."""
        settings = self.settings
        await asyncio.sleep(settings.steady_s)
        faulted_at = time.monotonic()
        fault()
        await asyncio.sleep(settings.outage_s)
        restored_at = time.monotonic()
        await restore()
        await back()
        back_at = time.monotonic()
        full_at = await self._wait_full(restored_at, name, required=False)
        window = [a for a in self.load.settled() if a.sent_at >= faulted_at]
        names: Counter[str] = Counter(name for answer in window for name in answer.degraded)
        return ScenarioReport(
            name=name,
            requests=len(window),
            server_errors=sum(1 for a in window if a.status >= 500),
            unanswered=sum(1 for a in window if a.status == 0),
            degraded=sum(1 for a in window if a.degraded),
            degraded_names=dict(names.most_common()),
            outage_s=restored_at - faulted_at,
            back_after_s=back_at - restored_at,
            full_again_s=None if full_at is None else full_at - restored_at,
        )

    async def redis_hung(self) -> ScenarioReport:
        async def resume() -> None:
            self.resume_redis()

        return await self.run("redis-hung", self.hang_redis, resume, self.redis_answers)

    async def redis_down(self) -> ScenarioReport:
        # An in-memory Redis comes back empty: the restore includes reloading the behaviour.
        return await self.run("redis-down", self.kill_redis, self.start_redis, self.redis_answers)

    async def retrieval_down(self) -> ScenarioReport:
        async def start() -> None:
            self.retrieval = self._spawn("retrieval", "retrieval", self._retrieval_env())

        return await self.run("retrieval-down", self.kill_retrieval, start, self.retrieval_serving)

    async def all_scenarios(self) -> list[ScenarioReport]:
        return [await self.redis_hung(), await self.redis_down(), await self.retrieval_down()]

    # Plumbing.

    async def _wait_full(self, since: float, what: str, *, required: bool = True) -> float | None:
        deadline = time.monotonic() + self.settings.recovery_limit_s
        while time.monotonic() < deadline:
            if self.gateway is not None and self.gateway.poll() is not None:
                raise DrillError(f"the gateway exited; see {self.settings.workdir / 'gateway.log'}")
            found = first_full_run(self.load.settled(), since, self.settings.settle)
            if found is not None:
                return found
            await asyncio.sleep(0.2)
        if required:
            raise DrillError(f"no {what} within {self.settings.recovery_limit_s:.0f} s")
        return None

    async def _wait_gateway(self) -> None:
        """Until /readyz is 200 and the gateway holds its last-resort page (its operators' /metrics say)."""
        deadline = time.monotonic() + self.settings.start_timeout_s
        base = f"http://127.0.0.1:{self.gateway_port}"
        internal = f"http://127.0.0.1:{self.gateway_internal_port}"
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as session:
            while time.monotonic() < deadline:
                if self.gateway is not None and self.gateway.poll() is not None:
                    raise DrillError(f"the gateway exited; see {self.settings.workdir / 'gateway.log'}")
                with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                    async with session.get(f"{base}/readyz") as ready:
                        async with session.get(f"{internal}/metrics") as metrics:
                            text = await metrics.text()
                        if ready.status == 200 and _last_resort_held(text):
                            return
                await asyncio.sleep(0.2)
        raise DrillError("the gateway never became ready")

    def _spawn(self, name: str, module: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
        with (self.settings.workdir / f"{name}.log").open("ab") as log:
            return subprocess.Popen(
                [sys.executable, "-m", module],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def _base_env(self) -> dict[str, str]:
        env = {key: value for key, value in os.environ.items() if not key.startswith("RECGPT_")}
        env.update(
            {
                "REDIS_URL": self.redis_url,
                "RECGPT_REDIS_PREFIX": PREFIX,
                "RECGPT_LOG_LEVEL": "WARNING",
                "HF_HUB_OFFLINE": "1",
                "TRANSFORMERS_OFFLINE": "1",
                "PYTHONUNBUFFERED": "1",
            }
        )
        return env

    def _retrieval_env(self) -> dict[str, str]:
        return {
            **self._base_env(),
            "RECGPT_PORT": str(self.retrieval_port),
            "RECGPT_METRICS_PORT": str(redis_server.free_port()),
            "RECGPT_CATALOGUE_DIR": str(self.settings.catalogue_dir),
            "RECGPT_INDEX_DIR": str(self.settings.index_dir),
            "RECGPT_BUILD_ON_START": "1" if self.settings.build_index else "0",
        }

    def _gateway_env(self) -> dict[str, str]:
        return {
            **self._base_env(),
            "RECGPT_PORT": str(self.gateway_port),
            "RECGPT_INTERNAL_PORT": str(self.gateway_internal_port),
            "RECGPT_API_KEYS_FILE": str(self.keys.file),
            "RECGPT_RETRIEVAL_TARGET": f"127.0.0.1:{self.retrieval_port}",
        }

    @staticmethod
    def _running(process: subprocess.Popen[bytes] | None) -> subprocess.Popen[bytes]:
        if process is None or process.poll() is not None:
            raise DrillError("the process is not running")
        return process


def _last_resort_held(metrics_text: str) -> bool:
    for line in metrics_text.splitlines():
        if line.startswith("recgpt_last_resort_items "):
            return float(line.split()[1]) > 0
    return False


def print_table(reports: list[ScenarioReport]) -> None:
    header = (
        f"{'scenario':<16}{'requests':>9}{'5xx':>6}{'no answer':>11}{'degraded':>10}"
        f"{'outage s':>10}{'back s':>9}{'full again s':>14}{'  (after back)':>15}"
    )
    print(header)
    for report in reports:
        full = "never" if report.full_again_s is None else f"{report.full_again_s:.2f}"
        after = "" if report.full_again_after_back_s is None else f"{report.full_again_after_back_s:.2f}"
        print(
            f"{report.name:<16}{report.requests:>9}{report.server_errors:>6}{report.unanswered:>11}"
            f"{report.degraded:>10}{report.outage_s:>10.1f}{report.back_after_s:>9.2f}{full:>14}{after:>15}"
        )
    for report in reports:
        print(f"  {report.name} degraded: {report.degraded_names}")


async def drill(settings: DrillSettings) -> list[ScenarioReport]:
    async with OutageDrill(settings) as running:
        return await running.all_scenarios()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--catalogue", type=Path, required=True, help="catalogue folder (items, behaviour)")
    parser.add_argument("--index", type=Path, required=True, help="the catalogue's built index folder")
    parser.add_argument("--workdir", type=Path, default=Path("var/outage"), help="logs and Redis folder")
    parser.add_argument("--rate", type=float, default=40.0, help="requests per second")
    parser.add_argument("--outage-s", type=float, default=10.0, help="how long each dependency is away")
    parser.add_argument("--settle", type=int, default=40, help="full answers in a row that end an outage")
    parser.add_argument("--build-index", action="store_true", help="build the index when missing")
    args = parser.parse_args()
    settings = DrillSettings(
        catalogue_dir=args.catalogue.resolve(),
        index_dir=args.index.resolve(),
        workdir=args.workdir.resolve(),
        rate=args.rate,
        outage_s=args.outage_s,
        settle=args.settle,
        build_index=args.build_index,
    )
    try:
        reports = asyncio.run(drill(settings))
    except DrillError as error:
        raise SystemExit(f"outage drill: {error}") from error
    print_table(reports)
    print(json.dumps({"rate": settings.rate, "scenarios": [r.summary() for r in reports]}))
    if not all(report.passed for report in reports):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
