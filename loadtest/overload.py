"""Overload: three times the knee for 30 s against a gateway started here, and what its callers got back.

    python -m loadtest.overload --stack var/run/stack.json                # the knee measured first
    python -m loadtest.overload --stack var/run/stack.json --knee 800     # the knee given

The gateway is started beside the running platform as the knee bench starts its own (loadtest/bench_gateway:
the platform's settings, free ports, a key of its own, unlimited unless --key-rate). Its knee is --knee or
measured on it (loadtest/bench_knee); after `--warmup` seconds at the knee, `--factor` times the knee is sent
for `--duration` seconds, open loop (loadtest/bench: each request leaves when due, whatever the answers, and
its latency counts from then). Under overload the gateway owes its callers refusals (429, 503) that come
fast, and 200s that still come within its request deadline, rather than slow answers for everyone.

Prints a summary and one JSON line (also to --json-out): requests sent, the share of 200, 429, 503 and other
outcomes (an error status, a timeout past --timeout, a refused connection), the share of 429 + 503 answered
within --fast-ms ("fast refusals"), p50 / p99 / slowest of the 200s, whether any 200 took longer than the
gateway's request deadline, and the gateway's `recgpt_gateway_rejected_total` by reason over the overload
(its operators' /metrics, read before and after). Exits non-zero only when the test cannot run.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx
import uvloop
from prometheus_client.parser import text_string_to_metric_families

from loadtest import bench_gateway
from loadtest.bench import SetupError, make_bodies, measure, percentile, read_user_ids
from loadtest.bench_knee import add_knee_arguments, check_knee_arguments, knee_of
from recgpt_serving.benchmarks import emit
from recgpt_tools import run_state

REJECTED_METRIC = "recgpt_gateway_rejected_total"
REFUSALS = ("429", "503")
# Below this share of the asked rate the sender, not only the gateway, was measured.
MIN_ACHIEVED_SHARE = 0.95


def rejected_by_reason(metrics_text: str) -> dict[str, float]:
    """`recgpt_gateway_rejected_total` by its reason label, from a Prometheus text exposition."""
    found: dict[str, float] = {}
    for family in text_string_to_metric_families(metrics_text):
        for sample in family.samples:
            if sample.name == REJECTED_METRIC:
                reason = sample.labels.get("reason", "")
                found[reason] = found.get(reason, 0.0) + sample.value
    return found


def rejected_between(before: Mapping[str, float], after: Mapping[str, float]) -> dict[str, int]:
    """What each reason's counter grew by; reasons that did not grow left out."""
    grown = {reason: round(count - before.get(reason, 0.0)) for reason, count in after.items()}
    return {reason: count for reason, count in sorted(grown.items()) if count > 0}


async def scrape_rejected(internal_url: str) -> dict[str, float]:
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.get(f"{internal_url}/metrics")
    if response.status_code != 200:
        raise SetupError(f"{internal_url}/metrics answered {response.status_code}")
    return rejected_by_reason(response.text)


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def summarize(
    latencies_by_outcome: Mapping[str, list[float]],
    *,
    knee_rate: float,
    factor: float,
    duration_s: float,
    window_s: float,
    deadline_ms: float,
    rejected: Mapping[str, int],
    fast_ms: float = 50.0,
) -> dict[str, Any]:
    """The overload's JSON line from each outcome's latencies (ms, from each request's due time)."""
    counts = {outcome: len(latencies) for outcome, latencies in latencies_by_outcome.items()}
    sent = sum(counts.values())
    named = ("200", *REFUSALS)
    other = {outcome: count for outcome, count in sorted(counts.items()) if outcome not in named}
    refusals = [latency for outcome in REFUSALS for latency in latencies_by_outcome.get(outcome, [])]
    ok = sorted(latencies_by_outcome.get("200", []))
    over_deadline = sum(1 for latency in ok if latency > deadline_ms)
    rate = knee_rate * factor
    achieved = round(sent / window_s, 1) if window_s else 0.0
    return {
        "bench": "recommend-overload",
        "knee_rate": round(knee_rate, 1),
        "factor": factor,
        "target_rate": round(rate, 1),
        "achieved_rate": achieved,
        "sender_kept_up": achieved >= MIN_ACHIEVED_SHARE * rate,
        "duration_s": duration_s,
        "sent": sent,
        "counts": {**{outcome: counts.get(outcome, 0) for outcome in named}, "other": sum(other.values())},
        "shares": {
            **{outcome: _share(counts.get(outcome, 0), sent) for outcome in named},
            "other": _share(sum(other.values()), sent),
        },
        "other_outcomes": other,
        "fast_refusals": {
            "within_ms": fast_ms,
            "refusals": len(refusals),
            "share": _share(sum(1 for latency in refusals if latency <= fast_ms), len(refusals)),
        },
        "ok": {
            "p50_ms": round(percentile(ok, 50), 2),
            "p99_ms": round(percentile(ok, 99), 2),
            "slowest_ms": round(ok[-1], 2) if ok else None,
            "request_deadline_ms": deadline_ms,
            "over_deadline": over_deadline,
            "any_over_deadline": over_deadline > 0,
        },
        "rejected_by_reason": dict(rejected),
    }


def _pct(share: float | None) -> str:
    return "-" if share is None else f"{share * 100:.1f}%"


def print_summary(line: Mapping[str, Any]) -> None:
    shares, ok, fast = line["shares"], line["ok"], line["fast_refusals"]
    print(
        f"overload: {line['factor']:g} x knee {line['knee_rate']:.1f}/s = {line['target_rate']:.1f}/s for "
        f"{line['duration_s']:g} s (achieved {line['achieved_rate']:.1f}/s), {line['sent']} requests"
    )
    if not line["sender_kept_up"]:
        print("  the sender fell behind the asked rate: the client was measured too")
    slowest = "-" if ok["slowest_ms"] is None else f"{ok['slowest_ms']:.1f}"
    over = f"{ok['over_deadline']} over" if ok["any_over_deadline"] else "none over"
    print(
        f"  200    {_pct(shares['200']):>7}  p50 {ok['p50_ms']:.1f} ms, p99 {ok['p99_ms']:.1f} ms, "
        f"slowest {slowest} ms; {over} the {ok['request_deadline_ms']:g} ms request deadline"
    )
    print(f"  429    {_pct(shares['429']):>7}")
    print(f"  503    {_pct(shares['503']):>7}")
    print(f"  other  {_pct(shares['other']):>7}  {line['other_outcomes'] or ''}".rstrip())
    print(
        f"  fast refusals: {_pct(fast['share'])} of {fast['refusals']} (429 + 503) "
        f"answered within {fast['within_ms']:g} ms"
    )
    print(
        f"  rejected by the gateway over the run ({REJECTED_METRIC}): {line['rejected_by_reason'] or 'none'}"
    )


async def run(args: argparse.Namespace) -> dict[str, Any]:
    state = run_state.read(args.stack)
    users = read_user_ids(state.catalogue_dir / "behaviour.jsonl")
    log = args.stack.parent.parent / "log" / "overload-gateway.log"
    with bench_gateway.gateway(args.stack, {}, log, key_rate_per_s=args.key_rate) as started:
        access = started.access
        url = f"{access.url}/v1/recommend"
        knee_rate = args.knee
        if knee_rate is None:
            knee_rate = (await knee_of("gateway", url, users, args, access.headers)).rate
            if not knee_rate:
                raise SetupError("no rate held the target: the gateway has no knee to overload")
        if args.warmup > 0:
            warm = make_bodies(
                users, max(1, int(knee_rate * args.warmup)), args.n, args.unknown_share, args.seed
            )
            await measure("warm-up", url, warm, args, knee_rate, headers=access.headers, warmup_s=0)
        rate = knee_rate * args.factor
        bodies = make_bodies(users, int(rate * args.duration), args.n, args.unknown_share, args.seed + 1)
        before = await scrape_rejected(access.operators_url())
        result = await measure("overload", url, bodies, args, rate, headers=access.headers, warmup_s=0)
        after = await scrape_rejected(access.operators_url())
        deadline_ms = float(started.setting("request_deadline_s")) * 1000
    return summarize(
        result.latencies_by_outcome,
        knee_rate=knee_rate,
        factor=args.factor,
        duration_s=args.duration,
        window_s=result.window_s,
        deadline_ms=deadline_ms,
        rejected=rejected_between(before, after),
        fast_ms=args.fast_ms,
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--stack", type=Path, required=True, help="the state file `make run` writes")
    parser.add_argument("--knee", type=float, help="the knee in requests/s (default: measured first)")
    parser.add_argument("--factor", type=float, default=3.0, help="the overload as a multiple of the knee")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of overload")
    parser.add_argument("--fast-ms", type=float, default=50.0, help="a refusal within this is fast")
    parser.add_argument(
        "--key-rate", type=float, help="the key's rate limit in requests/s (default: unlimited)"
    )
    add_knee_arguments(parser)
    parser.add_argument("--json-out", type=Path, help="also write the JSON line here")
    args = parser.parse_args(argv)
    check_knee_arguments(parser, args)
    if args.knee is not None and args.knee <= 0:
        parser.error("--knee must be positive")
    if args.factor <= 0 or args.duration <= 0 or args.fast_ms <= 0:
        parser.error("--factor, --duration and --fast-ms must be positive")
    if args.key_rate is not None and args.key_rate <= 0:
        parser.error("--key-rate must be positive")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    try:
        line = uvloop.run(run(args))
    except (SetupError, run_state.RunStateError, RuntimeError, httpx.HTTPError) as error:
        print(f"overload: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    print_summary(line)
    emit(line, args.json_out)


if __name__ == "__main__":
    main()
