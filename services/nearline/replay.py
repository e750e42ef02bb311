"""`python -m nearline.replay DIR --endpoint URL`: the engine's own throughput on the recorded prompts.

Replays every chat request body the services recorded (RECGPT_LLM_RECORD_DIR, one `<agent>.jsonl` per
agent) straight to vLLM at a fixed concurrency: no services, no schema validation. Its tokens/s beside the
near-line job's at the same concurrency shows what our plumbing costs; `--agent` replays one agent's only
(what `make bench-merged` sends to the shared engine and to the agent's own).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import sys
import time
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

import httpx
from pydantic import BaseModel


class ReplayReport(BaseModel):
    requests: int
    errors: int
    concurrency: int
    prompt_tokens: int
    completion_tokens: int
    wall_s: float
    completion_tokens_per_s: float
    total_tokens_per_s: float
    requests_per_s: float = 0.0
    # Of the answered requests, from sending to the whole answer (none answered: 0).
    latency_p50_s: float = 0.0
    latency_p95_s: float = 0.0

    def text(self) -> str:
        return (
            f"replayed {self.requests} requests ({self.errors} errors) at concurrency {self.concurrency} "
            f"in {self.wall_s:.1f} s: {self.requests_per_s:.2f} requests/s, latency p50 "
            f"{self.latency_p50_s:.3f} s, p95 {self.latency_p95_s:.3f} s\n"
            f"tokens: {self.prompt_tokens} prompt, {self.completion_tokens} completion\n"
            f"engine throughput: {self.completion_tokens_per_s:.1f} completion tok/s, "
            f"{self.total_tokens_per_s:.1f} total tok/s"
        )


def read_bodies(
    folder: Path, limit: int | None = None, agents: Collection[str] | None = None
) -> list[dict[str, Any]]:
    """Every recorded body (`agents`: of those agents only), agent files in name order and lines in order;
    unreadable lines are skipped."""
    bodies: list[dict[str, Any]] = []
    for path in sorted(folder.glob("*.jsonl")):
        if agents is not None and path.stem not in agents:
            continue
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                body = json.loads(line)
            except ValueError:
                continue
            if isinstance(body, dict):
                bodies.append(body)
    return bodies[:limit] if limit is not None else bodies


async def replay(
    bodies: Sequence[dict[str, Any]],
    endpoint: str,
    concurrency: int,
    timeout_s: float = 600.0,
    model: str | None = None,
) -> ReplayReport:
    """Sends every body to `endpoint`/chat/completions, `concurrency` at a time, and sums the usage."""
    queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body if model is None else {**body, "model": model})
    totals = {"prompt": 0, "completion": 0, "errors": 0}
    latencies: list[float] = []
    url = endpoint.rstrip("/") + "/chat/completions"

    async def worker(http: httpx.AsyncClient) -> None:
        while not queue.empty():
            body = queue.get_nowait()
            sent = time.perf_counter()
            try:
                response = await http.post(url, json=body)
                response.raise_for_status()
                usage = response.json().get("usage") or {}
                totals["prompt"] += int(usage.get("prompt_tokens", 0))
                totals["completion"] += int(usage.get("completion_tokens", 0))
            except (httpx.HTTPError, ValueError, AttributeError, TypeError):
                totals["errors"] += 1
            else:
                latencies.append(time.perf_counter() - sent)

    limits = httpx.Limits(max_connections=concurrency)
    started = time.perf_counter()
    async with httpx.AsyncClient(timeout=timeout_s, limits=limits, trust_env=False) as http:
        await asyncio.gather(*(worker(http) for _ in range(concurrency)))
    wall_s = time.perf_counter() - started
    per_s = 1.0 / wall_s if wall_s > 0 else 0.0
    return ReplayReport(
        requests=len(bodies),
        errors=totals["errors"],
        concurrency=concurrency,
        prompt_tokens=totals["prompt"],
        completion_tokens=totals["completion"],
        wall_s=round(wall_s, 3),
        completion_tokens_per_s=round(totals["completion"] * per_s, 2),
        total_tokens_per_s=round((totals["prompt"] + totals["completion"]) * per_s, 2),
        requests_per_s=round(len(latencies) * per_s, 3),
        latency_p50_s=round(quantile(latencies, 0.5), 4),
        latency_p95_s=round(quantile(latencies, 0.95), 4),
    )


def quantile(values: Sequence[float], q: float) -> float:
    """The nearest-rank quantile (0 for no values): a value that was measured, never an interpolation."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m nearline.replay", description=__doc__)
    parser.add_argument("folder", type=Path, metavar="DIR", help="RECGPT_LLM_RECORD_DIR of the run")
    parser.add_argument("--endpoint", default="http://127.0.0.1:8100/v1", help="vLLM's .../v1 URL")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--limit", type=int, default=None, help="replay only the first N bodies")
    parser.add_argument("--agent", action="append", default=None, help="replay this agent's bodies only")
    parser.add_argument("--model", default=None, help="override the bodies' model name")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per request")
    parser.add_argument("--json", type=Path, default=None, help="also write the report to this file")
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    if args.concurrency < 1:
        sys.exit("error: --concurrency must be at least 1")
    bodies = read_bodies(args.folder, args.limit, args.agent)
    if not bodies:
        sys.exit(f"error: no recorded request bodies in {args.folder}/*.jsonl")
    report = asyncio.run(replay(bodies, args.endpoint, args.concurrency, args.timeout, args.model))
    print(report.text())  # noqa: T201 - a command-line report
    if args.json is not None:
        args.json.write_text(report.model_dump_json(indent=2) + "\n")
    if report.errors:
        sys.exit(1)


if __name__ == "__main__":
    main()
