"""What one POST /v1/recommend costs in CPU, per process of the running platform, and where it goes.

    python -m loadtest.profile_recommend --stack var/run/stack.json --out var/profile

1. CPU per request: each process's CPU time (user + system, its threads and children, from /proc) over an
   idle window and over a fixed-rate load of the same length; (load - idle) / requests is what one request
   costs there. 2. Where: py-spy samples the gateway and retrieval under the same load; the functions with
   the most samples (inclusive and own) are printed, and the collapsed stacks are kept in --out for a flame
   graph. Prints a table and one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import redis
import uvloop

from loadtest import gateway_access
from loadtest.bench import make_bodies, measure, read_user_ids
from recgpt_tools import processes, run_state

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PROFILED = ("gateway", "retrieval")


def _children(pid: int) -> list[int]:
    """Every descendant of pid (uvicorn or gRPC helpers), from /proc."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            parents.setdefault(int(fields[1]), []).append(int(entry.name))
    found, queue = [], [pid]
    while queue:
        for child in parents.get(queue.pop(), []):
            found.append(child)
            queue.append(child)
    return found


def cpu_seconds(pid: int) -> float:
    """User + system CPU of the process and its descendants, in seconds."""
    total = 0
    for each in [pid, *_children(pid)]:
        try:
            fields = Path(f"/proc/{each}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / CLOCK_TICKS


def snapshot(pids: dict[str, int]) -> dict[str, float]:
    return {name: cpu_seconds(pid) for name, pid in pids.items()}


def redis_commands(url: str) -> Counter[str]:
    """Commands the Redis server has run, by name (INFO commandstats)."""
    client = redis.Redis.from_url(url)
    try:
        stats: dict[str, dict[str, int]] = client.info("commandstats")
    finally:
        client.close()
    return Counter({name.removeprefix("cmdstat_"): int(value["calls"]) for name, value in stats.items()})


async def cpu_per_request(
    pids: dict[str, int],
    url: str,
    bodies: list[bytes],
    args: argparse.Namespace,
    redis_url: str,
    headers: Mapping[str, str],
) -> dict[str, Any]:
    before = snapshot(pids)
    await asyncio.sleep(args.duration)
    idle = {name: cpu - before[name] for name, cpu in snapshot(pids).items()}
    before = snapshot(pids)
    commands_before = redis_commands(redis_url)
    started = time.perf_counter()
    result = await measure("gateway", url, bodies, args, args.rate, headers=headers)
    elapsed = time.perf_counter() - started
    loaded = {name: cpu - before[name] for name, cpu in snapshot(pids).items()}
    commands = redis_commands(redis_url) - commands_before
    # warmup requests are sent too: every request sent costs CPU.
    sent = len(bodies)
    per_request = {
        name: round(1000 * (loaded[name] - idle[name] * elapsed / args.duration) / sent, 3) for name in pids
    }
    return {
        "requests": sent,
        "rate": args.rate,
        "latency": result.summary(),
        "idle_cpu_s": {name: round(value, 3) for name, value in idle.items()},
        "loaded_cpu_s": {name: round(value, 3) for name, value in loaded.items()},
        "cpu_ms_per_request": per_request,
        "cpu_ms_per_request_total": round(sum(per_request.values()), 3),
        # Every command the platform's Redis ran during the load (scrapes and background work included).
        "redis_commands_per_request": {
            name: round(count / sent, 2) for name, count in commands.most_common() if count / sent >= 0.01
        },
    }


def py_spy() -> str:
    found = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(found).exists():
        raise SystemExit("py-spy is not installed (pip install the dev extra)")
    return found


def top_functions(collapsed: Path, limit: int) -> dict[str, list[tuple[str, float]]]:
    """Shares of samples by function: inclusive (on the stack) and own (at the top of the stack)."""
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack:
            continue
        count = int(count_text)
        frames = stack.split(";")
        total += count
        own[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count
    if not total:
        return {"inclusive": [], "own": []}
    return {
        "inclusive": [(name, round(c / total, 3)) for name, c in inclusive.most_common(limit)],
        "own": [(name, round(c / total, 3)) for name, c in own.most_common(limit)],
    }


def _record(pid: int, seconds: int, target: Path) -> subprocess.Popen[bytes]:
    """py-spy sampling `pid` and its children for `seconds`, collapsed stacks into `target`."""
    command = [py_spy(), "record", "--pid", str(pid), "--duration", str(seconds), "--rate", "250"]
    command += ["--format", "raw", "--nonblocking", "--subprocesses", "-o", str(target)]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


async def sampled(
    pids: dict[str, int], url: str, bodies: list[bytes], args: argparse.Namespace, headers: Mapping[str, str]
) -> dict[str, Any]:
    args.out.mkdir(parents=True, exist_ok=True)
    seconds = int(len(bodies) / args.rate) + 1
    recorders = {}
    for name in PROFILED:
        if name in pids:
            target = args.out / f"{name}.collapsed.txt"
            recorders[name] = (_record(pids[name], seconds, target), target)
    await measure("gateway", url, bodies, args, args.rate, headers=headers)
    found = {}
    for name, (recorder, target) in recorders.items():
        await asyncio.to_thread(recorder.wait, 60)
        found[name] = (
            top_functions(target, args.top) if target.exists() else {"error": "py-spy wrote nothing"}
        )
    return found


async def run(args: argparse.Namespace) -> dict[str, Any]:
    state = run_state.read(args.stack)
    access = gateway_access.from_state(state)
    run_dir = args.stack.parent
    candidates = {
        started.name: processes.serving_pid(run_dir, started) for started in processes.recorded(run_dir)
    }
    measured = ("gateway", "retrieval", "redis")
    pids = {name: pid for name, pid in candidates.items() if name in measured and pid is not None}
    users = read_user_ids(state.catalogue_dir / "behaviour.jsonl")
    bodies = make_bodies(users, int(args.rate * (args.duration + args.warmup)), args.n, 0.05, args.seed)
    url = f"{access.url}/v1/recommend"
    # The development key: each request costs its check too, as a caller's does.
    cost = await cpu_per_request(pids, url, bodies, args, state.redis_url, access.headers)
    where = await sampled(pids, url, bodies, args, access.headers)
    return {"bench": "recommend-cpu", **cost, "profile": where, "profile_dir": str(args.out)}


def report(line: dict[str, Any]) -> None:
    print(f"{line['requests']} requests at {line['rate']:g}/s, p99 {line['latency']['p99_ms']} ms")
    print(f"{'process':<12} {'idle CPU s':>10} {'loaded CPU s':>12} {'CPU ms/request':>15}")
    for name, per_request in line["cpu_ms_per_request"].items():
        print(f"{name:<12} {line['idle_cpu_s'][name]:>10} {line['loaded_cpu_s'][name]:>12} {per_request:>15}")
    print(f"{'total':<12} {'':>10} {'':>12} {line['cpu_ms_per_request_total']:>15}")
    print(f"Redis commands per request: {line['redis_commands_per_request']}")
    for name, shares in line["profile"].items():
        print(f"\n{name}: most samples (inclusive share)")
        for frame, share in shares.get("inclusive", [])[:25]:
            print(f"  {share:>6.1%}  {frame}")
        print(f"{name}: most samples (own share)")
        for frame, share in shares.get("own", []):
            print(f"  {share:>6.1%}  {frame}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--stack", type=Path, required=True, help="the state file `make run` writes")
    parser.add_argument("--out", type=Path, default=Path("var/profile"), help="folder for py-spy's stacks")
    parser.add_argument("--rate", type=float, default=100.0, help="requests per second")
    parser.add_argument(
        "--duration", type=float, default=20.0, help="seconds of load (and of the idle window)"
    )
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--n", type=int, default=10)
    parser.add_argument("--top", type=int, default=25, help="functions listed per process")
    parser.add_argument("--timeout", type=float, default=2.0)
    parser.add_argument("--ready-timeout", type=float, default=30.0)
    parser.add_argument("--seed", type=int, default=11)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    line = uvloop.run(run(args))
    report(line)
    print(json.dumps(line))


if __name__ == "__main__":
    main()
