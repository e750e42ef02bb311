"""`python -m nearline.ray_pipeline` (`make nearline-ray USERS=N`): the near-line refresh on Ray Data.

Users flow as rows through `map_batches` into a pool of actors; each actor holds what the in-process job
holds (gRPC channels to intent, tags, retrieval and explain, a Redis client) and runs the same
`NearlineJob.handle` on its batch, a few users at once. So a profile made here is the one the in-process
worker makes: the agents' own prompts, JSON-schema validation and fallbacks, the freshness check that skips
a user refreshed already (a batch retried after an actor died redoes only what is not stored), the same
ProfileStore and explanation cache, the same metrics and provenance.

Why the services' gRPC API and not `ray.data.llm`'s HTTP processor against the engines directly: that
processor would send prompts we would have to build, and answers we would have to validate, outside the
agents, a second copy of every prompt, schema, fallback and store write, free to drift from what serving
uses. The engines batch requests from many callers anyway (the agents put their own priorities on them);
what Ray adds is spreading the users over many workers and machines, which the actors do. The RayJob
manifest (deploy/k8s/components/ray-nearline) runs this module against the cluster's services.

Ray is an optional extra (`pip install .[ray]`), not in the serving image; this module is its only user.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import ray
from pydantic import ValidationError

from nearline import users as user_ids
from nearline.job import Freshness, NearlineJob, Outcome, Tally
from nearline.refresh import ProfileRefresher
from nearline.settings import NearlineSettings
from nearline.summary import Summary
from recgpt_domain.behaviour_store import BehaviourStore
from recgpt_domain.profile_store import ProfileStore
from recgpt_domain.prompt_versions import current_profile_prompt_version
from recgpt_domain.redis_connection import connect
from recgpt_serving import logs
from recgpt_serving.llm.usage import Usage
from recgpt_serving.service_stubs import ServiceStubs

log = logging.getLogger(__name__)

# What one refreshed user adds to the run's tally: one row per user out of each batch.
COLUMNS = (
    "user_id",
    "outcome",
    "explanations",
    "explanation_fallback",
    "prompt_tokens",
    "completion_tokens",
    "engine_seconds",
)


class RefreshActor:
    """One actor of the pool: an event loop of its own, with the job's channels and Redis client on it."""

    def __init__(self, settings: NearlineSettings, freshness: Freshness, users_at_once: int) -> None:
        logs.configure("nearline-ray", settings.log_level)
        self.users_at_once = users_at_once
        self.loop = asyncio.new_event_loop()
        # gRPC aio channels and the Redis client belong to the loop they are made on.
        self.job = self.loop.run_until_complete(self._open(settings, freshness))

    async def _open(self, settings: NearlineSettings, freshness: Freshness) -> NearlineJob:
        # Profiles go where the in-process job puts them: the caches' Redis when there is one.
        self.redis = connect(settings.cache_redis_url or settings.redis_url)
        self.stubs = ServiceStubs(settings)
        profiles = ProfileStore(
            self.redis, settings.redis_prefix, fallback_ttl_s=settings.profile_fallback_ttl_s
        )
        return NearlineJob(ProfileRefresher(self.stubs, settings), profiles, freshness, self.users_at_once)

    def __call__(self, batch: dict[str, Any]) -> dict[str, list[Any]]:
        users = [str(user_id) for user_id in batch["user_id"]]
        rows = self.loop.run_until_complete(self._refresh(users))
        return {column: [row[column] for row in rows] for column in COLUMNS}

    async def _refresh(self, users: list[str]) -> list[dict[str, Any]]:
        slots = asyncio.Semaphore(self.users_at_once)

        async def one(user_id: str) -> dict[str, Any]:
            tally = Tally()
            async with slots:
                outcome = await self.job.handle(user_id, tally)
            return {
                "user_id": user_id,
                "outcome": outcome.value,
                "explanations": tally.explanations,
                "explanation_fallback": tally.explanation_fallbacks,
                "prompt_tokens": tally.usage.prompt_tokens,
                "completion_tokens": tally.usage.completion_tokens,
                "engine_seconds": tally.usage.engine_seconds,
            }

        return list(await asyncio.gather(*(one(user_id) for user_id in users)))


def tally_of(rows: Sequence[dict[str, Any]]) -> Tally:
    """The run's tally from the pipeline's rows, as the in-process job would have counted it."""
    tally = Tally()
    for row in rows:
        tally.count(Outcome(row["outcome"]))
        tally.explanations += int(row["explanations"])
        tally.explanation_fallbacks += int(row["explanation_fallback"])
        tally.usage.merge(
            Usage(int(row["prompt_tokens"]), int(row["completion_tokens"]), float(row["engine_seconds"]))
        )
    return tally


def refresh(
    users: Sequence[str],
    settings: NearlineSettings,
    freshness: Freshness,
    *,
    actors: int = 2,
    batch_size: int = 16,
) -> list[dict[str, Any]]:
    """Refreshes `users` on the Ray cluster `ray.init()` joined; one row per user (`COLUMNS`)."""
    if not users:
        return []
    dataset = ray.data.from_items([{"user_id": user_id} for user_id in users])
    refreshed = dataset.map_batches(
        RefreshActor,
        fn_constructor_kwargs={
            "settings": settings,
            "freshness": freshness,
            "users_at_once": max(1, settings.concurrency // actors),
        },
        batch_size=batch_size,
        concurrency=actors,
        # The actors wait on the services, they do not compute: a fraction of a CPU each.
        num_cpus=0.25,
        # A batch whose actor died is run again by another; the freshness check skips what it stored.
        max_restarts=2,
        max_task_retries=2,
    )
    rows: list[dict[str, Any]] = refreshed.take_all()
    return rows


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nearline-ray", description="The near-line refresh on Ray: interests, tags, explanations."
    )
    chosen = parser.add_mutually_exclusive_group()
    chosen.add_argument("--users", action="append", default=[], help="comma-separated user ids")
    chosen.add_argument("--users-file", type=Path, help="one user id a line")
    parser.add_argument("--limit", type=int, default=None, help="at most N users")
    parser.add_argument("--actors", type=int, default=2, help="actors in the pool (default 2)")
    parser.add_argument("--batch-size", type=int, default=16, help="users per batch (default 16)")
    parser.add_argument("--address", default=None, help="a Ray cluster's address (default: a local Ray)")
    parser.add_argument("--force", action="store_true", help="refresh even users whose profile is fresh")
    parser.add_argument("--json", type=Path, default=None, help="also write the summary to this file")
    return parser


async def _chosen_users(args: argparse.Namespace, settings: NearlineSettings) -> list[str]:
    if args.users:
        chosen = user_ids.parse_ids(args.users)
    elif args.users_file is not None:
        chosen = user_ids.read_ids(args.users_file)
    else:
        redis = connect(settings.redis_url)
        try:
            chosen = await user_ids.all_users(BehaviourStore(redis, settings.redis_prefix))
        finally:
            await redis.aclose()
    return chosen[: args.limit] if args.limit is not None else chosen


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = NearlineSettings()
    except ValidationError as error:
        print(f"error: invalid settings:\n{error}", file=sys.stderr)  # noqa: T201
        return 2
    if args.actors < 1 or args.batch_size < 1:
        print("error: --actors and --batch-size must be at least 1", file=sys.stderr)  # noqa: T201
        return 2
    logs.configure("nearline-ray", settings.log_level)
    freshness = Freshness(
        settings.llm_model,
        current_profile_prompt_version(settings.tag_mode),
        settings.max_age_s,
        settings.profile_fallback_ttl_s,
        force=args.force,
    )
    users = asyncio.run(_chosen_users(args, settings))
    ray.init(address=args.address, include_dashboard=False, log_to_driver=False)
    try:
        started = time.perf_counter()
        rows = refresh(users, settings, freshness, actors=args.actors, batch_size=args.batch_size)
        summary = Summary.of(tally_of(rows), time.perf_counter() - started, settings.concurrency)
    finally:
        ray.shutdown()
    print(summary.text())  # noqa: T201
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({**summary.model_dump(), "actors": args.actors}, indent=2) + "\n")
    nothing_worked = summary.users_failed and not (
        summary.users_done or summary.users_fallback or summary.users_skipped
    )
    return 1 if nothing_worked else 0


if __name__ == "__main__":
    raise SystemExit(main())
