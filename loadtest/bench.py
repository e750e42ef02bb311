"""Open-loop benchmark of POST /v1/recommend, beside a bare FastAPI endpoint on the same machine.

Requests leave at fixed intervals whatever the responses do (open loop), and each latency runs from the
moment its request was due, so a slow server cannot hide its queueing by slowing the sender down
(coordinated omission). The same schedule of bodies is then sent to `bare_app.py`, started here as a
subprocess on a free port, and the ratio of latencies says what the gateway adds over FastAPI + uvicorn.

    python -m loadtest.bench --stack var/run/stack.json --rate 100 --duration 30
    python -m loadtest.bench --url http://127.0.0.1:8080/v1/recommend --api-key "$(recgpt-stack api-key)" \\
        --rate 100 --duration 30 --users-from catalogue/behaviour.jsonl

Every request presents an API key (the bare app ignores it, so both servers receive the same bytes): with
--stack the development key `make run` made (limited to 1000 requests/s: above that its limit answers 429),
else --api-key or RECGPT_API_KEY. Prints a table and one JSON line (also written to --json-out). Exits
non-zero only when the benchmark cannot run (no users, gateway or bare app not answering); a missed latency
target is a measurement.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import uvloop

from loadtest import gateway_access, served_route
from recgpt_serving.benchmarks import emit
from recgpt_tools import run_state
from recgpt_tools.run_state import RunStateError

BARE_APP = Path(__file__).with_name("bare_app.py")
JSON_HEADERS = {"content-type": "application/json"}


class SetupError(Exception):
    """The benchmark cannot run; the message says why."""


@dataclass
class RunResult:
    name: str
    rate: float
    duration_s: float
    latencies_ms: list[float] = field(default_factory=list)
    outcomes: Counter[str] = field(default_factory=Counter)
    # The same latencies by outcome ("200", "503", "TimeoutError"), for what each kind of answer took.
    latencies_by_outcome: dict[str, list[float]] = field(default_factory=dict)
    window_s: float = 0.0

    def record(self, outcome: str, latency_ms: float) -> None:
        self.latencies_ms.append(latency_ms)
        self.outcomes[outcome] += 1
        self.latencies_by_outcome.setdefault(outcome, []).append(latency_ms)

    @property
    def errors(self) -> int:
        return sum(count for outcome, count in self.outcomes.items() if not outcome.startswith("2"))

    def summary(self) -> dict[str, Any]:
        ordered = sorted(self.latencies_ms)
        sent = len(ordered)
        return {
            "target_rate": self.rate,
            "achieved_rate": round(sent / self.window_s, 1) if self.window_s else 0.0,
            "sent": sent,
            "errors": self.errors,
            "outcomes": dict(self.outcomes),
            "p50_ms": round(percentile(ordered, 50), 2),
            "p95_ms": round(percentile(ordered, 95), 2),
            "p99_ms": round(percentile(ordered, 99), 2),
            "max_ms": round(ordered[-1], 2) if ordered else 0.0,
        }


def percentile(ordered: list[float], pct: float) -> float:
    """Nearest-rank percentile of sorted values."""
    if not ordered:
        return 0.0
    rank = max(1, -(-len(ordered) * pct // 100))
    return ordered[int(rank) - 1]


def read_user_ids(path: Path, limit: int = 100_000) -> list[str]:
    """User ids of a catalogue's behaviour.jsonl (one UserHistory a line)."""
    if not path.is_file():
        raise SetupError(f"no behaviour file at {path}")
    ids: list[str] = []
    with path.open("rb") as handle:
        for line in handle:
            if line.strip():
                user_id = orjson.loads(line).get("user_id")
                if isinstance(user_id, str) and user_id:
                    ids.append(user_id)
                if len(ids) >= limit:
                    break
    if not ids:
        raise SetupError(f"no user ids in {path}")
    return ids


def make_bodies(user_ids: list[str], count: int, n: int, unknown_share: float, seed: int) -> list[bytes]:
    """The request bodies in sending order: random real users, and a few unknown ones (cold start)."""
    rng = random.Random(seed)
    unknown = [f"bench-unknown-{k}" for k in range(5)]
    bodies = []
    for _ in range(count):
        user_id = rng.choice(unknown) if rng.random() < unknown_share else rng.choice(user_ids)
        bodies.append(request_body(user_id, n))
    return bodies


def request_body(user_id: str, n: int) -> bytes:
    """One /v1/recommend body, as every benchmark sends it."""
    return orjson.dumps({"user_id": user_id, "n": n, "context": {"page": "bench"}})


async def send_one(
    session: aiohttp.ClientSession, url: str, body: bytes, due: float, result: RunResult | None
) -> None:
    """One request with the session's headers (content type, key); its outcome and latency from `due`."""
    try:
        async with session.post(url, data=body) as response:
            await response.read()
            outcome = str(response.status)
    except (aiohttp.ClientError, TimeoutError) as error:
        outcome = type(error).__name__
    if result is not None:
        result.record(outcome, (time.perf_counter() - due) * 1000)


async def open_loop(
    session: aiohttp.ClientSession,
    url: str,
    bodies: list[bytes],
    rate: float,
    result: RunResult | None,
) -> None:
    """Sends bodies[i] at start + i / rate, never waiting for responses before sending the next.

    Times come from perf_counter: uvloop's loop clock ticks in whole milliseconds.
    """
    start = time.perf_counter() + 0.05
    tasks = []
    for i, body in enumerate(bodies):
        due = start + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(send_one(session, url, body, due, result)))
    await asyncio.gather(*tasks)
    if result is not None:
        result.window_s = time.perf_counter() - start


async def measure(
    name: str,
    url: str,
    bodies: list[bytes],
    args: argparse.Namespace,
    rate: float | None = None,
    *,
    headers: Mapping[str, str] | None = None,
    warmup_s: float | None = None,
) -> RunResult:
    """One fixed-rate run: `warmup_s` (default `args.warmup`) unmeasured seconds, then the rest of `bodies`
    measured; every request with `headers` (the API key) beside the JSON content type."""
    rate = rate or args.rate
    warmup_s = args.warmup if warmup_s is None else warmup_s
    result = RunResult(name, rate, len(bodies) / rate - warmup_s)
    connector = aiohttp.TCPConnector(limit=0, force_close=False)
    timeout = aiohttp.ClientTimeout(total=args.timeout)
    session_headers = {**JSON_HEADERS, **(headers or {})}
    async with aiohttp.ClientSession(
        connector=connector, timeout=timeout, headers=session_headers
    ) as session:
        await wait_answering(session, url, bodies[0], args.ready_timeout)
        warmup = int(rate * warmup_s)
        if warmup:
            await open_loop(session, url, bodies[:warmup], rate, None)
        await open_loop(session, url, bodies[warmup:], rate, result)
    return result


async def wait_answering(session: aiohttp.ClientSession, url: str, body: bytes, timeout_s: float) -> None:
    """Retries one request until a 2xx or the timeout: a server that never answers is a setup error."""
    deadline = time.monotonic() + timeout_s
    last = "no attempt"
    while time.monotonic() < deadline:
        try:
            async with session.post(url, data=body) as response:
                text = await response.text()
                if 200 <= response.status < 300:
                    return
                last = f"HTTP {response.status}: {text[:200]}"
        except (aiohttp.ClientError, TimeoutError) as error:
            last = f"{type(error).__name__}: {error}"
        await asyncio.sleep(0.25)
    raise SetupError(f"{url} did not answer 2xx within {timeout_s:g} s (last: {last})")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_bare_app() -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    process = subprocess.Popen([sys.executable, str(BARE_APP), "--port", str(port)], stdin=subprocess.DEVNULL)
    return process, f"http://127.0.0.1:{port}/v1/recommend"


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def ratio(gateway: float, bare: float) -> float | None:
    return round(gateway / bare, 2) if bare > 0 else None


def report(
    args: argparse.Namespace, results: list[RunResult], routes: dict[str, int] | None = None
) -> dict[str, Any]:
    """The table and the JSON line; `routes`: the collaborative answers by route during the gateway's run."""
    summaries = {result.name: result.summary() for result in results}
    gateway = summaries["gateway"]
    line: dict[str, Any] = {
        "bench": "recommend",
        "url": args.url,
        "rate": args.rate,
        "duration_s": args.duration,
        "n": args.n,
        **summaries,
        "collaborative_routes": routes,
        "target": {
            "p99_ms": args.target_p99_ms,
            "met": gateway["p99_ms"] <= args.target_p99_ms and gateway["errors"] == 0,
        },
    }
    if "bare" in summaries:
        bare = summaries["bare"]
        line["ratio"] = {
            "p50": ratio(gateway["p50_ms"], bare["p50_ms"]),
            "p99": ratio(gateway["p99_ms"], bare["p99_ms"]),
        }
    header = f"{'run':<8} {'target/s':>8} {'achieved/s':>10} {'sent':>6} {'errors':>6}"
    header += f" {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'max ms':>8}"
    print(header)
    for name, s in summaries.items():
        print(
            f"{name:<8} {s['target_rate']:>8g} {s['achieved_rate']:>10} {s['sent']:>6} "
            f"{s['errors']:>6} {s['p50_ms']:>8} {s['p95_ms']:>8} {s['p99_ms']:>8} {s['max_ms']:>8}"
        )
    if "ratio" in line:
        print(f"gateway / bare: p50 x{line['ratio']['p50']}, p99 x{line['ratio']['p99']}")
    print(served_route.describe(routes))
    met = "met" if line["target"]["met"] else "MISSED"
    print(f"target p99 <= {args.target_p99_ms:g} ms with zero errors: {met}")
    if gateway["errors"]:
        print(f"gateway outcomes: {gateway['outcomes']}")
    return line


async def run(args: argparse.Namespace) -> dict[str, Any]:
    user_ids = read_user_ids(args.users_from)
    count = int(args.rate * (args.duration + args.warmup))
    bodies = make_bodies(user_ids, count, args.n, args.unknown_share, args.seed)
    headers = gateway_access.bearer(args.api_key)
    answered = await served_route.scrape_answers(args.retrieval_metrics_url)
    results = [await measure("gateway", args.url, bodies, args, headers=headers)]
    routes = served_route.routes_between(
        answered, await served_route.scrape_answers(args.retrieval_metrics_url)
    )
    if not args.no_bare:
        process, bare_url = start_bare_app()
        try:
            results.append(await measure("bare", bare_url, bodies, args, headers=headers))
        finally:
            stop(process)
    return report(args, results, routes)


def add_load_arguments(parser: argparse.ArgumentParser) -> None:
    """What every open-loop run takes, here and in the knee search (loadtest/bench_knee.py)."""
    parser.add_argument("--warmup", type=float, default=2.0, help="unmeasured seconds before each run")
    parser.add_argument("--n", type=int, default=10, help="items asked per request")
    parser.add_argument("--unknown-share", type=float, default=0.05, help="share of unknown users")
    parser.add_argument("--timeout", type=float, default=2.0, help="seconds before a request fails")
    parser.add_argument("--ready-timeout", type=float, default=30.0)
    parser.add_argument("--target-p99-ms", type=float, default=50.0)
    parser.add_argument("--seed", type=int, default=7)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--stack",
        type=Path,
        help="the state file `make run` writes (var/run/stack.json): URL and users from it",
    )
    parser.add_argument("--url", help="the gateway's /v1/recommend URL")
    parser.add_argument(
        "--api-key",
        help="the key to present (default: with --stack the development key, else RECGPT_API_KEY)",
    )
    parser.add_argument("--users-from", type=Path, help="a catalogue's behaviour.jsonl")
    parser.add_argument("--rate", type=float, default=100.0, help="requests per second")
    parser.add_argument("--duration", type=float, default=30.0, help="measured seconds")
    add_load_arguments(parser)
    parser.add_argument("--no-bare", action="store_true", help="skip the bare FastAPI comparison")
    parser.add_argument("--json-out", type=Path, help="also write the JSON line here")
    args = parser.parse_args(argv)
    # Retrieval's metrics say which collaborative route answered; known with --stack only.
    args.retrieval_metrics_url = None
    if args.stack:
        try:
            state = run_state.read(args.stack)
            access = gateway_access.from_state(state)
        except RunStateError as error:
            parser.error(str(error))
        args.retrieval_metrics_url = state.metrics_urls.get("retrieval")
        args.url = args.url or f"{access.url}/v1/recommend"
        if args.api_key is None:
            args.api_key = access.api_key
        args.users_from = args.users_from or state.catalogue_dir / "behaviour.jsonl"
    if args.api_key is None:
        args.api_key = os.environ.get("RECGPT_API_KEY", "")
    if not args.url or not args.users_from:
        parser.error("give --stack, or both --url and --users-from")
    if args.rate <= 0 or args.duration <= 0 or args.warmup < 0:
        parser.error("--rate and --duration must be positive, --warmup not negative")
    if not 0 <= args.unknown_share <= 1:
        parser.error("--unknown-share must be within 0..1")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    try:
        line = uvloop.run(run(args))
    except SetupError as error:
        print(f"bench: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    emit(line, args.json_out)


if __name__ == "__main__":
    main()
