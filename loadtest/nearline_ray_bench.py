"""Near-line users/min: the in-process job vs the Ray Data pipeline, against the same stand-in services.

    python -m loadtest.nearline_ray_bench [--users 400] [--llm-ms 200] [--concurrency 16] [--actors 2]
        [--json-out FILE]

Starts a redis-server of its own and `loadtest.stand_in_agents` (each LLM-bound call waits `--llm-ms`), then
refreshes the same users twice, each run into a prefix of its own: with the in-process job
(`NearlineJob`, `--concurrency` users at once) and with `nearline.ray_pipeline` on a local Ray (`--actors`
actors sharing the same concurrency). Prints users/min of each, the Ray run's with and without starting
Ray itself; one JSON line follows. Both runs do the same calls, so the difference is what Ray's orchestration
costs or gains on one machine, not the engines' throughput.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import ray
from grpc_health.v1 import health_pb2, health_pb2_grpc

from loadtest import stand_in_agents
from nearline import ray_pipeline
from nearline.job import Freshness, NearlineJob, Tally
from nearline.refresh import ProfileRefresher
from nearline.settings import NearlineSettings
from recgpt_domain.profile_store import ProfileStore
from recgpt_domain.prompt_versions import profile_prompt_version
from recgpt_domain.redis_connection import connect
from recgpt_serving import service_names
from recgpt_serving.service_stubs import ServiceStubs
from recgpt_tools import redis_server


def settings_for(target: str, redis_url: str, prefix: str, concurrency: int) -> NearlineSettings:
    return NearlineSettings(
        redis_url=redis_url,
        redis_prefix=prefix,
        intent_target=target,
        tags_target=target,
        retrieval_target=target,
        explain_target=target,
        concurrency=concurrency,
        llm_model=stand_in_agents.MODEL,
    )


async def in_process(
    users: list[str], settings: NearlineSettings, freshness: Freshness
) -> tuple[Tally, float]:
    redis = connect(settings.redis_url)
    stubs = ServiceStubs(settings)
    profiles = ProfileStore(redis, settings.redis_prefix)
    job = NearlineJob(ProfileRefresher(stubs, settings), profiles, freshness, settings.concurrency)

    async def listed() -> AsyncIterator[str]:
        for user_id in users:
            yield user_id

    try:
        started = time.perf_counter()
        tally = await job.run(listed())
        return tally, time.perf_counter() - started
    finally:
        await stubs.close()
        await redis.aclose()


def serving(target: str) -> bool:
    try:
        with grpc.insecure_channel(target) as channel:
            request = health_pb2.HealthCheckRequest(service=service_names.INTENT)
            reply = health_pb2_grpc.HealthStub(channel).Check(request, timeout=2)
    except grpc.RpcError:
        return False
    return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)


def per_minute(users: int, seconds: float) -> float:
    return round(users * 60 / seconds, 1) if seconds > 0 else 0.0


def bench(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    redis_port, agents_port = redis_server.free_port(), redis_server.free_port()
    redis = redis_server.start(redis_port, workdir / "redis", workdir / "redis.log")
    with (workdir / "stand-in-agents.log").open("wb") as log:
        agents = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "loadtest.stand_in_agents",
                "--port",
                str(agents_port),
                "--llm-ms",
                str(args.llm_ms),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    try:
        target = f"127.0.0.1:{agents_port}"
        deadline = time.monotonic() + 60
        while not serving(target):
            if time.monotonic() > deadline or agents.poll() is not None:
                raise RuntimeError(
                    f"the stand-in agents did not start; see {workdir / 'stand-in-agents.log'}"
                )
            time.sleep(0.2)
        redis_url = f"redis://127.0.0.1:{redis_port}/0"
        users = [f"bench-{k}" for k in range(args.users)]
        version = profile_prompt_version(stand_in_agents.INTERESTS_VERSION, stand_in_agents.TAGS_VERSION)
        freshness = Freshness(stand_in_agents.MODEL, version, 3600, force=True)
        tally, job_s = asyncio.run(
            in_process(users, settings_for(target, redis_url, "bench-job", args.concurrency), freshness)
        )
        started = time.perf_counter()
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
        ray_init_s = time.perf_counter() - started
        try:
            started = time.perf_counter()
            rows = ray_pipeline.refresh(
                users,
                settings_for(target, redis_url, "bench-ray", args.concurrency),
                freshness,
                actors=args.actors,
                batch_size=args.batch_size,
            )
            ray_s = time.perf_counter() - started
        finally:
            ray.shutdown()
    finally:
        agents.terminate()
        agents.wait(timeout=15)
        redis.terminate()
        redis.wait(timeout=15)
    on_ray = ray_pipeline.tally_of(rows)
    return {
        "users": args.users,
        "llm_ms": args.llm_ms,
        "concurrency": args.concurrency,
        "actors": args.actors,
        "batch_size": args.batch_size,
        "in_process": {"done": tally.done, "failed": tally.failed, "seconds": round(job_s, 2),
                       "users_per_min": per_minute(tally.done, job_s)},
        "ray": {"done": on_ray.done, "failed": on_ray.failed, "seconds": round(ray_s, 2),
                "users_per_min": per_minute(on_ray.done, ray_s), "ray_init_s": round(ray_init_s, 2),
                "users_per_min_with_init": per_minute(on_ray.done, ray_s + ray_init_s)},
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=400)
    parser.add_argument("--llm-ms", type=float, default=200.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--actors", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--json-out", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="nearline-ray-bench-") as scratch:
        result = bench(args, Path(scratch))
    job, on_ray = result["in_process"], result["ray"]
    print(f"{'run':<12}{'users':>7}{'failed':>8}{'seconds':>9}{'users/min':>11}")
    print(
        f"{'in-process':<12}{job['done']:>7}{job['failed']:>8}{job['seconds']:>9}{job['users_per_min']:>11}"
    )
    print(
        f"{'ray':<12}{on_ray['done']:>7}{on_ray['failed']:>8}{on_ray['seconds']:>9}{on_ray['users_per_min']:>11}"
    )
    print(f"(ray.init took {on_ray['ray_init_s']} s; with it, {on_ray['users_per_min_with_init']} users/min)")
    print(json.dumps(result))
    if args.json_out is not None:
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        args.json_out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
