"""`python -m retrieval` as a process: becomes SERVING, answers, and exits cleanly on SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from recgpt.retrieval.v1 import retrieval_pb2, retrieval_pb2_grpc
from recgpt_tools import redis_server
from retrieval.servicer import SERVICE_NAME
from retrieval.settings import IndexSettings


async def wait_serving(target: str, process: asyncio.subprocess.Process, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    async with grpc.aio.insecure_channel(target) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while time.monotonic() < deadline:
            assert process.returncode is None, "the service exited during start-up"
            try:
                reply = await stub.Check(health_pb2.HealthCheckRequest(service=SERVICE_NAME), timeout=1)
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.aio.AioRpcError:
                pass
            await asyncio.sleep(0.2)
    raise AssertionError("the service never became SERVING")


async def test_serves_until_sigterm(
    small_index: IndexSettings, redis_url: str, redis_prefix: str, tmp_path: Path
) -> None:
    port = redis_server.free_port()
    env = {
        **os.environ,
        "REDIS_URL": redis_url,
        "RECGPT_REDIS_PREFIX": redis_prefix,
        "RECGPT_PORT": str(port),
        "RECGPT_METRICS_PORT": str(redis_server.free_port()),
        "RECGPT_CATALOGUE_DIR": str(small_index.catalogue_dir),
        "RECGPT_INDEX_DIR": str(small_index.index_dir),
        "RECGPT_COLLABORATIVE_WINDOW": str(small_index.collaborative_window),
        # Stops at once: the drain is tested with replicas (tests/loadtest/test_rolling_restart.py).
        "RECGPT_DRAIN_S": "0",
    }
    log_path = tmp_path / "retrieval.log"
    with log_path.open("wb") as log:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "retrieval", env=env, stdout=log, stderr=asyncio.subprocess.STDOUT
        )
    try:
        target = f"127.0.0.1:{port}"
        await wait_serving(target, process, timeout_s=90)
        async with grpc.aio.insecure_channel(target) as channel:
            stub = retrieval_pb2_grpc.RetrievalServiceStub(channel)  # type: ignore[no-untyped-call]
            reply = await stub.Search(
                retrieval_pb2.SearchRequest(texts=retrieval_pb2.TextQueries(texts=["microscope"]), top_k=1)
            )
        assert reply.items[0].item.category_path[-1] == "Microscopes"
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), 30) == 0, log_path.read_text()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert '"message": "index loaded"' in log_path.read_text()
