"""The knee of POST /v1/recommend (highest rate with p99 <= 50 ms and zero errors): bare FastAPI, the gateway
with experiments off and with experiments on, in the same run.

    python -m loadtest.bench_knee --stack var/run/stack.json

Each gateway is started here beside the running platform (same retrieval, Redis and settings, a free port),
so that only the experiments setting differs between them; the bare endpoint is `bare_app.py`. Every step
is an open-loop run (loadtest/bench.py) of `--step-duration` seconds after `--warmup`. Prints a table and
one JSON line (also to --json-out). On a gateway without the experiments switch, "on" is reported as not
measured, with the reason.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import uvloop

from loadtest import bench_gateway
from loadtest.bench import (
    SetupError,
    add_load_arguments,
    make_bodies,
    measure,
    read_user_ids,
    start_bare_app,
    stop,
)
from loadtest.knee import Knee, KneeSettings, Step, search
from recgpt_tools import run_state

OFF = "gateway-experiments-off"
ON = "gateway-experiments-on"
BARE = "bare-fastapi"


async def knee_of(name: str, url: str, users: list[str], args: argparse.Namespace) -> Knee:
    settings = KneeSettings(
        start_rate=args.start_rate,
        growth=args.growth,
        max_rate=args.max_rate,
        resolution=args.resolution,
        target_p99_ms=args.target_p99_ms,
    )

    async def step(rate: float) -> Step:
        count = int(rate * (args.step_duration + args.warmup))
        bodies = make_bodies(users, count, args.n, args.unknown_share, args.seed)
        summary = (await measure(name, url, bodies, args, rate)).summary()
        found = Step(rate, summary["p99_ms"], summary["errors"], summary["achieved_rate"])
        verdict = "holds" if found.holds(settings) else "fails"
        print(
            f"  {name:<24} {rate:>8.1f}/s  achieved {found.achieved_rate:>8.1f}/s  "
            f"p50 {summary['p50_ms']:>7.2f}  p99 {found.p99_ms:>8.2f} ms  "
            f"errors {found.errors:>5}  {verdict}",
            flush=True,
        )
        return found

    return await search(step, settings)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    state = run_state.read(args.stack)
    users = read_user_ids(state.catalogue_dir / "behaviour.jsonl")
    knees: dict[str, Knee] = {}
    notes: dict[str, str] = {}
    log = args.stack.parent.parent / "log" / "bench-gateway.log"
    switch = bench_gateway.EXPERIMENTS_ENV
    # The "on" gateway's own admin token: the bench switches the repository's experiments on through it.
    token = uuid.uuid4().hex
    configurations = [(OFF, {switch: "false"})]
    if bench_gateway.has_experiments():
        configurations.append((ON, {switch: "true", "RECGPT_ADMIN_TOKEN": token}))
    else:
        notes[ON] = (
            "not measured: this gateway has no experiments switch (services/experiments not in the build)"
        )
    for name, overrides in configurations:
        with bench_gateway.gateway(args.stack, overrides, log) as base_url:
            if name != ON:
                knees[name] = await knee_of(name, f"{base_url}/v1/recommend", users, args)
                continue
            with bench_gateway.experiments_running(base_url, token) as running:
                if not running:
                    notes[ON] = "experiments switch on, but no admin API to start an experiment"
                knees[name] = await knee_of(name, f"{base_url}/v1/recommend", users, args)
    process, bare_url = start_bare_app()
    try:
        knees[BARE] = await knee_of(BARE, bare_url, users, args)
    finally:
        stop(process)
    return report(args, knees, notes)


def report(args: argparse.Namespace, knees: dict[str, Knee], notes: dict[str, str]) -> dict[str, Any]:
    line: dict[str, Any] = {
        "bench": "recommend-knee",
        "target": {"p99_ms": args.target_p99_ms, "errors": 0},
        "step_duration_s": args.step_duration,
        "n": args.n,
        "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        **{name: knee.summary() for name, knee in knees.items()},
        "notes": notes,
    }
    print(f"{'configuration':<26} {'knee req/s':>10} {'first failing':>14}")
    for name, knee in knees.items():
        failing = "-" if knee.first_failing is None else f"{knee.first_failing:.1f}"
        print(f"{name:<26} {knee.rate:>10.1f} {failing:>14}")
    for name, note in notes.items():
        print(f"{name:<26} {note}")
    if OFF in knees and ON in knees and knees[OFF].rate:
        share = knees[ON].rate / knees[OFF].rate
        line["on_vs_off"] = round(share, 3)
        verdict = "within 10%" if share >= 0.9 else "MORE than 10% below"
        print(f"experiments on / off: {share:.2f} ({verdict})")
    return line


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--stack", type=Path, required=True, help="the state file `make run` writes")
    parser.add_argument("--start-rate", type=float, default=100.0)
    parser.add_argument(
        "--growth", type=float, default=1.5, help="factor between rates before the first fail"
    )
    parser.add_argument("--max-rate", type=float, default=4000.0)
    parser.add_argument("--resolution", type=float, default=0.1, help="bisect until within this share")
    parser.add_argument("--step-duration", type=float, default=10.0, help="measured seconds per step")
    add_load_arguments(parser)
    parser.add_argument("--json-out", type=Path, help="also write the JSON line here")
    args = parser.parse_args(argv)
    if args.start_rate <= 0 or args.growth <= 1 or args.step_duration <= 0:
        parser.error("--start-rate and --step-duration must be positive, --growth above 1")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    try:
        line = uvloop.run(run(args))
    except (SetupError, run_state.RunStateError, RuntimeError) as error:
        print(f"bench: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    print(json.dumps(line))
    if args.json_out:
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        args.json_out.write_text(json.dumps(line) + "\n")


if __name__ == "__main__":
    main()
