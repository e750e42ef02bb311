"""The knee of POST /v1/recommend (highest rate with p99 <= 50 ms and zero errors): bare FastAPI and the
gateway in the configurations compared, in the same run.

    python -m loadtest.bench_knee --stack var/run/stack.json                       # experiments and auth
    python -m loadtest.bench_knee --stack var/run/stack.json --compare auth        # auth on against off
    python -m loadtest.bench_knee --stack var/run/stack.json --compare route --rounds 3 --warm-up-users

Each comparison sets two configurations of the gateway apart by one setting: `experiments` (experiments off
against on, authentication on in both), `auth` (a key checked on every request against RECGPT_AUTH=off,
experiments off in both; the auth-on gateway is the experiments-off one, measured once) and `route` (the
platform's retrieval, with the learned route where a towers artefact serves, against a second retrieval
started here with no artefact, co-occurrence; experiments off and auth on in both). Each gateway is started
here beside the running platform (same retrieval, Redis and settings, free ports, keys of its own), so that
only the compared setting differs; every request presents the same key, which the auth-off gateway ignores.
The bare endpoint is `bare_app.py`. Every step is an open-loop run (loadtest/bench.py) of `--step-duration`
seconds after `--warmup`. With `--warm-up-users`, every gateway first gets one unmeasured request for each
user of the catalogue: the search then measures a platform that has seen its users (per-user caches filled,
as after a while in production), not its first requests. Prints a table, each comparison side by side with
the knee of both and their difference in %, and one JSON line (also to --json-out). On a gateway without
the experiments switch, "on" is reported as not measured, with the reason.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvloop

from loadtest import bench_gateway, served_route
from loadtest.bench import (
    SetupError,
    add_load_arguments,
    make_bodies,
    measure,
    read_user_ids,
    request_body,
    start_bare_app,
    stop,
)
from loadtest.bench_gateway import AUTH_ENV, EXPERIMENTS_ENV
from loadtest.knee import Knee, KneeSettings, Step, search
from recgpt_serving.benchmarks import emit
from recgpt_tools import run_state

OFF = "gateway-experiments-off"
ON = "gateway-experiments-on"
AUTH_OFF = "gateway-auth-off"
COOCCURRENCE = "gateway-cooccurrence"
BARE = "bare-fastapi"
# A comparison whose "on" knee is this share of its "off" knee or more is within what runs vary by.
WITHIN = 0.9


@dataclass(frozen=True)
class Configuration:
    """A gateway measured: its settings beside the platform's, and whether the repository's experiments are
    switched on (A/A) through its admin API before the search."""

    name: str
    overrides: Mapping[str, str] = field(default_factory=dict)
    experiments_running: bool = False
    # Behind a retrieval of its own started with no towers artefact (co-occurrence), not the platform's.
    without_towers: bool = False


CONFIGURATIONS = (
    Configuration(OFF, {EXPERIMENTS_ENV: "false", AUTH_ENV: "on"}),
    Configuration(ON, {EXPERIMENTS_ENV: "true", AUTH_ENV: "on"}, experiments_running=True),
    Configuration(AUTH_OFF, {EXPERIMENTS_ENV: "false", AUTH_ENV: "off"}),
    Configuration(COOCCURRENCE, {EXPERIMENTS_ENV: "false", AUTH_ENV: "on"}, without_towers=True),
)


@dataclass(frozen=True)
class Comparison:
    """Two configurations one setting apart: `on` with the feature, `off` without."""

    name: str
    on: str
    off: str
    label: str


COMPARISONS = {
    "experiments": Comparison("experiments", on=ON, off=OFF, label="experiments on / off"),
    "auth": Comparison("auth", on=OFF, off=AUTH_OFF, label="auth on / off (experiments off)"),
    "route": Comparison(
        "route", on=OFF, off=COOCCURRENCE, label="platform's route / co-occurrence (experiments off, auth on)"
    ),
}


def knee_settings(args: argparse.Namespace) -> KneeSettings:
    return KneeSettings(
        start_rate=args.start_rate,
        growth=args.growth,
        max_rate=args.max_rate,
        resolution=args.resolution,
        target_p99_ms=args.target_p99_ms,
    )


async def knee_of(
    name: str,
    url: str,
    users: list[str],
    args: argparse.Namespace,
    headers: Mapping[str, str] | None = None,
) -> Knee:
    """The knee of `url`, every request with `headers` (the API key)."""
    settings = knee_settings(args)
    if args.warm_up_users:
        await warm_up(name, url, users, args, headers)

    async def step(rate: float) -> Step:
        count = int(rate * (args.step_duration + args.warmup))
        bodies = make_bodies(users, count, args.n, args.unknown_share, args.seed)
        summary = (await measure(name, url, bodies, args, rate, headers=headers)).summary()
        kinds = {outcome: n for outcome, n in summary["outcomes"].items() if not outcome.startswith("2")}
        found = Step(rate, summary["p99_ms"], summary["errors"], summary["achieved_rate"], kinds)
        verdict = "holds" if found.holds(settings) else "fails"
        by_kind = f" ({', '.join(f'{kind}: {n}' for kind, n in sorted(kinds.items()))})" if kinds else ""
        print(
            f"  {name:<24} {rate:>8.1f}/s  achieved {found.achieved_rate:>8.1f}/s  "
            f"p50 {summary['p50_ms']:>7.2f}  p99 {found.p99_ms:>8.2f} ms  "
            f"errors {found.errors:>5}{by_kind}  {verdict}",
            flush=True,
        )
        return found

    return await search(step, settings)


async def warm_up(
    name: str, url: str, users: list[str], args: argparse.Namespace, headers: Mapping[str, str] | None
) -> None:
    """One unmeasured request for each user, at the search's first rate."""
    bodies = [request_body(user, args.n) for user in users]
    summary = (await measure(name, url, bodies, args, args.start_rate, headers=headers, warmup_s=0)).summary()
    print(f"  {name:<24} warm-up: {len(bodies)} users, errors {summary['errors']}", flush=True)


def configurations_of(compared: list[str]) -> list[Configuration]:
    """The gateways the comparisons need, each once, in the table's order."""
    needed = {name for key in compared for name in (COMPARISONS[key].on, COMPARISONS[key].off)}
    return [configuration for configuration in CONFIGURATIONS if configuration.name in needed]


async def run(args: argparse.Namespace) -> dict[str, Any]:
    state = run_state.read(args.stack)
    users = read_user_ids(state.catalogue_dir / "behaviour.jsonl")
    measured: dict[str, list[Knee]] = {}
    notes: dict[str, str] = {}
    log = args.stack.parent.parent / "log" / "bench-gateway.log"
    configurations = configurations_of(args.compare)
    retrieval_metrics = state.metrics_urls.get("retrieval")
    answered = await served_route.scrape_answers(retrieval_metrics)
    for round_index in range(args.rounds):
        # A B, then B A: whatever drifts over the run (a warming cache, a neighbour's load) falls on both.
        ordered = configurations if round_index % 2 == 0 else list(reversed(configurations))
        for configuration in ordered:
            knee = await _knee_of_configuration(configuration, args, users, log, notes)
            if knee is not None:
                measured.setdefault(configuration.name, []).append(knee)
    routes = served_route.routes_between(answered, await served_route.scrape_answers(retrieval_metrics))
    knees = {name: _median(found) for name, found in measured.items()}
    for name, found in measured.items():
        if len(found) > 1:
            notes[name] = "knees by round: " + ", ".join(f"{knee.rate:.1f}" for knee in found)
    if not args.no_bare:
        process, bare_url = start_bare_app()
        try:
            knees[BARE] = await knee_of(BARE, bare_url, users, args)
        finally:
            stop(process)
    return report(args, knees, notes, routes)


async def _knee_of_configuration(
    configuration: Configuration,
    args: argparse.Namespace,
    users: list[str],
    log: Path,
    notes: dict[str, str],
) -> Knee | None:
    if configuration.experiments_running and not bench_gateway.has_experiments():
        notes[configuration.name] = (
            "not measured: this gateway has no experiments switch (services/experiments not in the build)"
        )
        return None
    if configuration.without_towers:
        with (
            tempfile.TemporaryDirectory(prefix="recgpt-bench-no-towers-") as empty,
            bench_gateway.retrieval(args.stack, {"RECGPT_TOWERS_DIR": empty}, log) as own,
        ):
            before = await served_route.scrape_answers(own.metrics_url)
            overrides = {**configuration.overrides, "RECGPT_RETRIEVAL_TARGET": own.target}
            knee = await _knee_behind(configuration, overrides, args, users, log, notes)
            routes = served_route.routes_between(before, await served_route.scrape_answers(own.metrics_url))
            notes[f"{configuration.name} retrieval"] = "own retrieval, no artefact; " + served_route.describe(
                routes
            )
            return knee
    return await _knee_behind(configuration, configuration.overrides, args, users, log, notes)


async def _knee_behind(
    configuration: Configuration,
    overrides: Mapping[str, str],
    args: argparse.Namespace,
    users: list[str],
    log: Path,
    notes: dict[str, str],
) -> Knee | None:
    with bench_gateway.gateway(args.stack, overrides, log) as started:
        access = started.access
        url = f"{access.url}/v1/recommend"
        if not configuration.experiments_running:
            return await knee_of(configuration.name, url, users, args, access.headers)
        with bench_gateway.experiments_running(access) as running:
            if not running:
                notes[configuration.name] = "experiments switch on, but no admin API to start an experiment"
            return await knee_of(configuration.name, url, users, args, access.headers)


def _median(knees: list[Knee]) -> Knee:
    """The round whose knee is the median (the lower of the two middle ones)."""
    ordered = sorted(knees, key=lambda knee: knee.rate)
    return ordered[(len(ordered) - 1) // 2]


def compare(comparison: Comparison, knees: Mapping[str, Knee]) -> dict[str, Any] | None:
    """The two knees side by side and `on`'s difference from `off` in %; None when one is missing."""
    on, off = knees.get(comparison.on), knees.get(comparison.off)
    if on is None or off is None or not off.rate:
        return None
    share = on.rate / off.rate
    return {
        "on": {"configuration": comparison.on, "knee_rate": round(on.rate, 1)},
        "off": {"configuration": comparison.off, "knee_rate": round(off.rate, 1)},
        "on_vs_off": round(share, 3),
        "difference_pct": round((share - 1) * 100, 1),
        "within_10pct": share >= WITHIN,
    }


def report(
    args: argparse.Namespace,
    knees: dict[str, Knee],
    notes: dict[str, str],
    routes: dict[str, int] | None = None,
) -> dict[str, Any]:
    """The table and the JSON line; `routes`: the collaborative answers by route while the gateways ran."""
    line: dict[str, Any] = {
        "bench": "recommend-knee",
        "target": {"p99_ms": args.target_p99_ms, "errors": 0},
        "step_duration_s": args.step_duration,
        "n": args.n,
        "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        **{name: knee.summary() for name, knee in knees.items()},
        "notes": notes,
        "collaborative_routes": routes,
        "comparisons": {},
    }
    print(f"{'configuration':<26} {'knee req/s':>10} {'first failing':>14}")
    for name, knee in knees.items():
        failing = "-" if knee.first_failing is None else f"{knee.first_failing:.1f}"
        print(f"{name:<26} {knee.rate:>10.1f} {failing:>14}")
    for name, note in notes.items():
        print(f"{name:<26} {note}")
    print(served_route.describe(routes))
    for key in args.compare:
        comparison = COMPARISONS[key]
        found = compare(comparison, knees)
        if found is None:
            print(f"{comparison.label}: not compared (a knee is missing or zero)")
            continue
        line["comparisons"][key] = found
        verdict = "within 10%" if found["within_10pct"] else "MORE than 10% below"
        print(
            f"{comparison.label}: on {found['on']['knee_rate']:.1f}/s ({comparison.on}), "
            f"off {found['off']['knee_rate']:.1f}/s ({comparison.off}), "
            f"difference {found['difference_pct']:+.1f}% ({verdict})"
        )
    if "experiments" in line["comparisons"]:
        # The key earlier results were written with.
        line["on_vs_off"] = line["comparisons"]["experiments"]["on_vs_off"]
    return line


def add_knee_arguments(parser: argparse.ArgumentParser) -> None:
    """The knee search's settings, here and in the overload test (loadtest/overload.py)."""
    parser.add_argument("--start-rate", type=float, default=100.0)
    parser.add_argument(
        "--growth", type=float, default=1.5, help="factor between rates before the first fail"
    )
    parser.add_argument("--max-rate", type=float, default=4000.0)
    parser.add_argument("--resolution", type=float, default=0.1, help="bisect until within this share")
    parser.add_argument("--step-duration", type=float, default=10.0, help="measured seconds per step")
    parser.add_argument(
        "--warm-up-users",
        action="store_true",
        help="one unmeasured request per catalogue user before each search",
    )
    add_load_arguments(parser)


def check_knee_arguments(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if args.start_rate <= 0 or args.growth <= 1 or args.step_duration <= 0:
        parser.error("--start-rate and --step-duration must be positive, --growth above 1")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--stack", type=Path, required=True, help="the state file `make run` writes")
    parser.add_argument(
        "--compare",
        nargs="+",
        choices=list(COMPARISONS),
        default=list(COMPARISONS),
        help="the comparisons to measure (default: all)",
    )
    parser.add_argument("--no-bare", action="store_true", help="skip the bare FastAPI knee")
    add_knee_arguments(parser)
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="measure each gateway this many times, alternating the order (A B, B A, ...); the median knee",
    )
    parser.add_argument("--json-out", type=Path, help="also write the JSON line here")
    args = parser.parse_args(argv)
    check_knee_arguments(parser, args)
    args.compare = list(dict.fromkeys(args.compare))
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    try:
        line = uvloop.run(run(args))
    except (SetupError, run_state.RunStateError, RuntimeError) as error:
        print(f"bench: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    emit(line, args.json_out)


if __name__ == "__main__":
    main()
