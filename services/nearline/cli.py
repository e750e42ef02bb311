"""`recgpt-nearline`: refresh users' RecGPT-V1 (or, with `--method recgpt-v2`, V2) profiles and explanations,
once or following the queue.

Batch: `recgpt-nearline [--users a,b | --users-file F] [--limit N] [--force] [--json FILE]` (default: every
user in Redis), then a summary. Follow: `recgpt-nearline --follow` refreshes the users the gateway queues on
profile misses until SIGTERM/SIGINT, serving Prometheus metrics on RECGPT_METRICS_PORT. Redis and the services
come from the environment; against the platform `make run` started: `recgpt-stack exec -- recgpt-nearline`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import re
import signal
import sys
import time
from pathlib import Path

from pydantic import ValidationError
from tqdm import tqdm  # type: ignore[import-untyped]

from nearline import users as user_ids
from nearline.adaptive import ConcurrencyLimiter
from nearline.follow import QueueFollower
from nearline.job import Freshness, NearlineJob, Tally, from_list
from nearline.refresh import ProfileRefresher, ReasonedRefresher
from nearline.refresh_v2 import ReasonedV2Refresher, V2ProfileRefresher
from nearline.settings import NearlineSettings
from nearline.summary import Summary
from recgpt_domain.behaviour_store import BehaviourStore
from recgpt_domain.profile_store import LLM_PROFILE_MAX_AGE_S, METHOD_V2, ProfileStore
from recgpt_domain.prompt_versions import current_profile_prompt_version, v2_profile_prompt_version
from recgpt_domain.redis_connection import connect
from recgpt_domain.refresh_queue import RefreshQueue, RetryPolicy
from recgpt_serving import logs, metrics
from recgpt_serving.llm.batch import BATCH_CONCURRENCY
from recgpt_serving.service_stubs import ServiceStubs

log = logging.getLogger(__name__)

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_UNIT_S = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
# Both stop the run gracefully: users in flight finish, and the summary is still written.
_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def duration_s(text: str) -> float:
    """ "3600", "90s", "30m", "12h" or "14d" in seconds."""
    match = _DURATION.match(text.lower())
    if match is None or float(match.group(1)) <= 0:
        raise argparse.ArgumentTypeError(f"not a positive duration: {text!r} (e.g. 3600, 30m, 12h, 14d)")
    return float(match.group(1)) * _UNIT_S[match.group(2)]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="recgpt-nearline",
        description="Precompute RecGPT-V1 interests, tags and explanations into Redis through the services.",
    )
    chosen = parser.add_mutually_exclusive_group()
    chosen.add_argument("--users", action="append", default=[], help="comma-separated user ids")
    chosen.add_argument("--users-file", type=Path, help="one user id a line")
    chosen.add_argument(
        "--follow",
        action="store_true",
        help="refresh queued users until SIGTERM/SIGINT (the launcher's mode)",
    )
    parser.add_argument("--limit", type=int, default=None, help="at most N users (batch mode)")
    parser.add_argument(
        "--concurrency",
        type=int,
        default=None,
        help=f"users at once, at most: the adaptive limit's maximum (default {BATCH_CONCURRENCY})",
    )
    parser.add_argument("--explain-items", type=int, default=None, help="explanations precomputed per user")
    parser.add_argument(
        "--max-age",
        type=duration_s,
        default=None,
        help=f"keep LLM profiles younger than this (default {LLM_PROFILE_MAX_AGE_S // 86400}d)",
    )
    parser.add_argument("--force", action="store_true", help="refresh even users whose profile is fresh")
    parser.add_argument(
        "--method",
        choices=["recgpt-v1", "recgpt-v2"],
        default=None,
        help="which profiles to build (default RECGPT_PROFILE_METHOD, else recgpt-v1)",
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the summary to this file")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def main(argv: list[str] | None = None) -> None:
    sys.exit(asyncio.run(amain(argv)))


async def amain(argv: list[str] | None = None, prompt_version: str | None = None) -> int:
    """The whole command; returns the exit status. `prompt_version` overrides the agents' (for tests)."""
    args = build_parser().parse_args(argv)
    overrides = {
        key: value
        for key, value in {
            "concurrency": args.concurrency,
            "explain_items": args.explain_items,
            "max_age_s": args.max_age,
            "profile_method": args.method,
        }.items()
        if value is not None
    }
    try:
        settings = NearlineSettings.model_validate(overrides)
    except ValidationError as error:
        print(f"error: invalid settings:\n{error}", file=sys.stderr)
        return 2
    if args.follow and settings.metrics_port is None:
        print("error: --follow serves metrics: set RECGPT_METRICS_PORT", file=sys.stderr)
        return 2
    if args.limit is not None and args.limit < 1:
        print("error: --limit must be at least 1", file=sys.stderr)
        return 2
    logs.configure("nearline", settings.log_level)
    freshness = Freshness(
        settings.llm_model,
        prompt_version or _profile_prompt_version(settings),
        settings.max_age_s,
        settings.profile_fallback_ttl_s,
        force=args.force,
        method=settings.profile_method,
    )
    summary = await _run(args, settings, freshness)
    print(summary.text())
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(summary.model_dump_json(indent=2) + "\n")
    # Exit 1 only when nothing worked (a misconfiguration, e.g. services down); single failures are counted.
    if summary.users_failed and not (summary.users_done or summary.users_fallback or summary.users_skipped):
        return 1
    return 0


def _profile_prompt_version(settings: NearlineSettings) -> str:
    """What a fresh profile of the method the job builds records."""
    if settings.profile_method == METHOD_V2:
        return v2_profile_prompt_version()
    return current_profile_prompt_version(settings.tag_mode)


async def _run(args: argparse.Namespace, settings: NearlineSettings, freshness: Freshness) -> Summary:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in _STOP_SIGNALS:
        loop.add_signal_handler(signum, stop.set)
    redis = connect(settings.redis_url)
    cache = connect(settings.cache_redis_url) if settings.cache_redis_url else redis
    stubs = ServiceStubs(settings)
    profiles = ProfileStore(cache, settings.redis_prefix, fallback_ttl_s=settings.profile_fallback_ttl_s)
    limiter = ConcurrencyLimiter(
        settings.concurrency, settings.concurrency_start, adaptive=settings.adaptive_concurrency
    )
    started = time.perf_counter()
    try:
        if args.follow:
            reasoned = ReasonedV2Refresher if settings.profile_method == METHOD_V2 else ReasonedRefresher
            tally = await _follow(reasoned(stubs, settings), profiles, freshness, settings, limiter, stop)
        else:
            refresher = V2ProfileRefresher if settings.profile_method == METHOD_V2 else ProfileRefresher
            job = NearlineJob(
                refresher(stubs, settings), profiles, freshness, settings.concurrency, limiter=limiter
            )
            tally = await _batch(job, args, BehaviourStore(redis, settings.redis_prefix), settings, stop)
    finally:
        for signum in _STOP_SIGNALS:
            loop.remove_signal_handler(signum)
        await stubs.close()
        await redis.aclose()
        if cache is not redis:
            await cache.aclose()
    return Summary.of(tally, time.perf_counter() - started, settings.concurrency, limiter)


async def _batch(
    job: NearlineJob,
    args: argparse.Namespace,
    behaviour: BehaviourStore,
    settings: NearlineSettings,
    stop: asyncio.Event,
) -> Tally:
    if args.users:
        chosen = user_ids.parse_ids(args.users)
    elif args.users_file is not None:
        chosen = user_ids.read_ids(args.users_file)
    else:
        chosen = await user_ids.all_users(behaviour)
    if args.limit is not None:
        chosen = chosen[: args.limit]
    log.info(
        "near-line batch starts",
        extra={"users": len(chosen), "concurrency": settings.concurrency, "limit": job.limiter.limit},
    )
    bar = tqdm(total=len(chosen), unit="user", file=sys.stderr, disable=args.no_progress, dynamic_ncols=True)
    with contextlib.closing(bar):
        return await job.run(from_list(chosen, stop), progress=bar, stop=stop)


async def _follow(
    refresher: ReasonedRefresher,
    profiles: ProfileStore,
    freshness: Freshness,
    settings: NearlineSettings,
    limiter: ConcurrencyLimiter,
    stop: asyncio.Event,
) -> Tally:
    assert settings.metrics_port is not None  # amain refuses --follow without it
    metrics.serve(settings.metrics_port, settings.bind_host)
    log.info(
        "near-line follower starts",
        extra={
            "concurrency": settings.concurrency,
            "limit": limiter.limit,
            "metrics_port": settings.metrics_port,
        },
    )
    retry = RetryPolicy(
        lease_s=settings.refresh_lease_s,
        max_attempts=settings.refresh_max_attempts,
        backoff_s=settings.refresh_backoff_s,
        backoff_max_s=settings.refresh_backoff_max_s,
        failed_cooldown_s=settings.refresh_failed_cooldown_s,
        dead_letters_max=settings.refresh_dead_letters_max,
    )
    queue = RefreshQueue(
        profiles.client,
        settings.redis_prefix,
        settings.profile_method,
        retry=retry,
        timeout_s=settings.redis_timeout_s,
    )
    job = NearlineJob(refresher, profiles, freshness, settings.concurrency, limiter=limiter)
    follower = QueueFollower(
        job, refresher, queue, settings.follow_poll_s, stop_grace_s=settings.shutdown_grace_s
    )
    tally = await follower.run(stop)
    log.info(
        "near-line follower stopped",
        extra={"done": tally.done, "fallback": tally.fallback, "failed": tally.failed},
    )
    return tally


if __name__ == "__main__":
    main()
