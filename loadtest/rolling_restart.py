"""Rolling restart under load: two replicas each of retrieval and of the gateway, as a Deployment rolls them.

    python -m loadtest.rolling_restart --catalogue var/catalogue --index var/index [--drain-s 5]
        [--rate 40] [--probe-s 1] [--build-index] [--json-out FILE]

Starts a redis-server of its own with the catalogue's behaviour, two retrieval processes and two gateways
(each gateway calls both retrievals through `ipv4:a,b`), and keeps a steady load on both
(`loadtest.rolling_load`: gRPC Search calls to the retrievals, POST /v1/recommend through a balancer that
follows /readyz). Then, for retrieval and then for the gateway: SIGTERM one replica, wait for it to exit,
start it again and wait until it serves, then the same for the other. Prints, per rollout, the requests sent
meanwhile and how many failed, by why; one JSON line follows. Exits non-zero when any request failed or a
replica exited with a failure. `--drain-s 0` shows what the drain window buys.
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
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import aiohttp
import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from loadtest import gateway_access
from loadtest.rolling_load import GrpcLoad, HttpLoad
from recgpt_domain.catalogue import iter_histories
from recgpt_domain.datasets.redis_loader import load_behaviour
from recgpt_serving import service_names
from recgpt_tools import redis_server

PREFIX = "recgpt-rolling"
# A replica that stopped by itself: 0, or SIGTERM raised again once stopped (uvicorn does, as a signal's
# default would have ended the process). SIGKILL (-9) after the timeout is not clean.
CLEAN_EXITS = (0, -signal.SIGTERM)


class DrillError(RuntimeError):
    """The drill could not run (a process did not start); the message says why."""


@dataclass(frozen=True)
class RollingSettings:
    catalogue_dir: Path
    index_dir: Path
    # Logs and the redis-server's folder.
    workdir: Path
    # RECGPT_DRAIN_S of every replica.
    drain_s: float = 5.0
    # Requests per second of each load (gRPC, HTTP).
    rate: float = 40.0
    # How often the balancer probes each gateway's /readyz.
    probe_s: float = 1.0
    # Load before and after each rollout.
    steady_s: float = 2.0
    # The first retrieval builds the index when it is missing (a fresh catalogue); the second waits for it.
    build_index: bool = False
    start_timeout_s: float = 300.0


@dataclass(frozen=True)
class RolloutReport:
    name: str
    drain_s: float
    seconds: float
    requests: int
    failed: int
    failed_by: dict[str, int]
    # HTTP answers that were 200 but lacked a part (gateway load only).
    degraded: int
    exit_codes: list[int]

    @property
    def passed(self) -> bool:
        return self.failed == 0 and all(code in CLEAN_EXITS for code in self.exit_codes)


@dataclass
class Replica:
    """One process of the drill: its command's module, environment and the address it serves on."""

    name: str
    module: str
    env: dict[str, str]
    workdir: Path
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with (self.workdir / f"{self.name}.log").open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", self.module],
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def exited(self) -> bool:
        return self.process is None or self.process.poll() is not None

    async def terminate(self, timeout_s: float) -> int:
        """SIGTERM, as the kubelet sends it; its exit code (SIGKILL after `timeout_s`: -9)."""
        process = self.process
        assert process is not None
        process.send_signal(signal.SIGTERM)
        try:
            return await asyncio.to_thread(process.wait, timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            return await asyncio.to_thread(process.wait)

    def fail_if_exited(self) -> None:
        if self.exited():
            raise DrillError(f"{self.name} exited; see {self.workdir / (self.name + '.log')}")


class RollingRestartDrill:
    """The drill's processes and loads; `rollout` restarts one pair of replicas, one after the other."""

    def __init__(self, settings: RollingSettings) -> None:
        self.settings = settings
        settings.workdir.mkdir(parents=True, exist_ok=True)
        self.redis_port = redis_server.free_port()
        self.keys = gateway_access.write_own_keys(settings.workdir / "api-keys.json")
        self.redis: subprocess.Popen[bytes] | None = None
        retrieval_ports = [redis_server.free_port() for _ in range(2)]
        self.retrieval_targets = [f"127.0.0.1:{port}" for port in retrieval_ports]
        self.retrievals = [
            Replica(f"retrieval-{k}", "retrieval", self._retrieval_env(port, build=k == 0), settings.workdir)
            for k, port in enumerate(retrieval_ports)
        ]
        gateway_ports = [redis_server.free_port() for _ in range(2)]
        self.gateway_bases = [f"http://127.0.0.1:{port}" for port in gateway_ports]
        self.gateways = [
            Replica(f"gateway-{k}", "gateway", self._gateway_env(port), settings.workdir)
            for k, port in enumerate(gateway_ports)
        ]
        users = [history.user_id for history in iter_histories(settings.catalogue_dir)]
        self.grpc_load = GrpcLoad(self.retrieval_targets, settings.rate)
        self.http_load = HttpLoad(
            self.gateway_bases,
            users,
            gateway_access.bearer(self.keys.api_key),
            settings.rate,
            settings.probe_s,
        )
        self._stop_load = asyncio.Event()
        self._loads: list[asyncio.Task[None]] = []

    @property
    def redis_url(self) -> str:
        return f"redis://127.0.0.1:{self.redis_port}/0"

    async def __aenter__(self) -> RollingRestartDrill:
        try:
            workdir, log = self.settings.workdir / "redis", self.settings.workdir / "redis.log"
            self.redis = await asyncio.to_thread(redis_server.start, self.redis_port, workdir, log)
            await asyncio.to_thread(load_behaviour, self.settings.catalogue_dir, self.redis_url, PREFIX)
            for replica, target in zip(self.retrievals, self.retrieval_targets, strict=True):
                replica.start()  # one at a time: the first may build the index the second reads
                await self._retrieval_serving(replica, target)
            for replica, base in zip(self.gateways, self.gateway_bases, strict=True):
                replica.start()
                await self._gateway_ready(replica, base)
            self._loads = [
                asyncio.create_task(self.grpc_load.run(self._stop_load)),
                asyncio.create_task(self.http_load.run(self._stop_load)),
            ]
        except BaseException:
            await self.__aexit__()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._stop_load.set()
        await asyncio.gather(*self._loads, return_exceptions=True)
        for replica in [*self.gateways, *self.retrievals]:
            if not replica.exited():
                await replica.terminate(30)
        if self.redis is not None and self.redis.poll() is None:
            self.redis.terminate()
            self.redis.wait(timeout=15)

    async def rollout(self, name: str) -> RolloutReport:
        """Restarts the pair `name` ("retrieval" or "gateway") replica by replica under the load."""
        await asyncio.sleep(self.settings.steady_s)
        load = self.grpc_load if name == "retrieval" else self.http_load
        before = load.tally.copy()
        started = time.monotonic()
        pairs = (
            zip(self.retrievals, self.retrieval_targets, strict=True)
            if name == "retrieval"
            else zip(self.gateways, self.gateway_bases, strict=True)
        )
        exit_codes = []
        for replica, address in pairs:
            # Terminated within drain + grace (the gateway's grace outlasts its 10 s feed command).
            exit_codes.append(await replica.terminate(timeout_s=self.settings.drain_s + 30))
            replica.start()
            if name == "retrieval":
                await self._retrieval_serving(replica, address)
            else:
                await self._gateway_ready(replica, address)
        await asyncio.sleep(self.settings.steady_s)
        seen = load.tally.since(before)
        return RolloutReport(
            name=name,
            drain_s=self.settings.drain_s,
            seconds=round(time.monotonic() - started, 1),
            requests=seen.ok + seen.failures,
            failed=seen.failures,
            failed_by=dict(seen.failed),
            degraded=seen.degraded,
            exit_codes=exit_codes,
        )

    async def _retrieval_serving(self, replica: Replica, target: str) -> None:
        deadline = time.monotonic() + self.settings.start_timeout_s
        request = health_pb2.HealthCheckRequest(service=service_names.RETRIEVAL)
        async with grpc.aio.insecure_channel(target) as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            while time.monotonic() < deadline:
                replica.fail_if_exited()
                with contextlib.suppress(grpc.aio.AioRpcError):
                    reply = await stub.Check(request, timeout=1)
                    if reply.status == health_pb2.HealthCheckResponse.SERVING:
                        return
                await asyncio.sleep(0.1)
        raise DrillError(f"{replica.name} never reported SERVING")

    async def _gateway_ready(self, replica: Replica, base: str) -> None:
        deadline = time.monotonic() + self.settings.start_timeout_s
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as session:
            while time.monotonic() < deadline:
                replica.fail_if_exited()
                with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                    async with session.get(f"{base}/readyz") as ready:
                        if ready.status == 200:
                            return
                await asyncio.sleep(0.1)
        raise DrillError(f"{replica.name} never became ready")

    def _base_env(self) -> dict[str, str]:
        env = {key: value for key, value in os.environ.items() if not key.startswith("RECGPT_")}
        env.update(
            {
                "REDIS_URL": self.redis_url,
                "RECGPT_REDIS_PREFIX": PREFIX,
                "RECGPT_LOG_LEVEL": "WARNING",
                "RECGPT_DRAIN_S": str(self.settings.drain_s),
                "HF_HUB_OFFLINE": "1",
                "TRANSFORMERS_OFFLINE": "1",
                "PYTHONUNBUFFERED": "1",
            }
        )
        return env

    def _retrieval_env(self, port: int, *, build: bool) -> dict[str, str]:
        return {
            **self._base_env(),
            "RECGPT_PORT": str(port),
            "RECGPT_METRICS_PORT": str(redis_server.free_port()),
            "RECGPT_CATALOGUE_DIR": str(self.settings.catalogue_dir),
            "RECGPT_INDEX_DIR": str(self.settings.index_dir),
            "RECGPT_BUILD_ON_START": "1" if build and self.settings.build_index else "0",
        }

    def _gateway_env(self, port: int) -> dict[str, str]:
        return {
            **self._base_env(),
            "RECGPT_PORT": str(port),
            "RECGPT_INTERNAL_PORT": str(redis_server.free_port()),
            "RECGPT_API_KEYS_FILE": str(self.keys.file),
            "RECGPT_RETRIEVAL_TARGET": "ipv4:" + ",".join(self.retrieval_targets),
            "RECGPT_GATEWAY_REPLICAS": "2",
            # A rollout is measured, not admission control: four processes share this machine's cores while
            # a retrieval loads its model, and the gateway's overload guard would shed for that.
            "RECGPT_MAX_IN_FLIGHT": "64",
            "RECGPT_QUEUE_DEADLINE_S": "2",
            "RECGPT_OVERLOAD_LAG_S": "2",
        }


def print_table(reports: list[RolloutReport]) -> None:
    print(
        f"{'rollout':<11}{'drain s':>8}{'seconds':>9}{'requests':>10}{'failed':>8}{'degraded':>10}  failed by"
    )
    for report in reports:
        print(
            f"{report.name:<11}{report.drain_s:>8g}{report.seconds:>9.1f}{report.requests:>10}"
            f"{report.failed:>8}{report.degraded:>10}  {report.failed_by or '-'}"
        )


async def drill(settings: RollingSettings) -> list[RolloutReport]:
    async with RollingRestartDrill(settings) as running:
        return [await running.rollout("retrieval"), await running.rollout("gateway")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--catalogue", type=Path, required=True)
    parser.add_argument("--index", type=Path, required=True)
    parser.add_argument("--workdir", type=Path, default=Path("var/rolling-restart"))
    parser.add_argument("--drain-s", type=float, default=5.0)
    parser.add_argument("--rate", type=float, default=40.0)
    parser.add_argument("--probe-s", type=float, default=1.0)
    parser.add_argument("--build-index", action="store_true")
    parser.add_argument("--json-out", type=Path)
    args = parser.parse_args()
    settings = RollingSettings(
        catalogue_dir=args.catalogue,
        index_dir=args.index,
        # Absolute: redis-server opens its log after moving into its folder.
        workdir=args.workdir.resolve(),
        drain_s=args.drain_s,
        rate=args.rate,
        probe_s=args.probe_s,
        build_index=args.build_index,
    )
    reports = asyncio.run(drill(settings))
    print_table(reports)
    line: dict[str, Any] = {"rollouts": [asdict(report) for report in reports]}
    print(json.dumps(line))
    if args.json_out is not None:
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        args.json_out.write_text(json.dumps(line, indent=2) + "\n")
    raise SystemExit(0 if all(report.passed for report in reports) else 1)


if __name__ == "__main__":
    main()
