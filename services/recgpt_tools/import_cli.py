"""`recgpt-import SOURCE_DIR --out CATALOGUE_DIR`: dataset folder -> catalogue folder -> Redis.

`recgpt-import --follow [--out CATALOGUE_DIR]` (the launcher's `restore` process) then keeps the
catalogue's behaviour in Redis until SIGTERM/SIGINT: it loads it again whenever Redis comes back without it
(recgpt_tools.behaviour_restore). The catalogue defaults to $RECGPT_CATALOGUE_DIR.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from pathlib import Path
from types import FrameType

import redis

from recgpt_domain import key_migration
from recgpt_domain.catalogue import BEHAVIOUR_FILE, CatalogueManifest
from recgpt_domain.datasets import redis_loader
from recgpt_domain.datasets.errors import CatalogueTargetError, DatasetFormatError
from recgpt_domain.datasets.formats import FORMATS
from recgpt_domain.datasets.importer import fresh_manifest, import_dataset
from recgpt_domain.redis_connection import connect_sync
from recgpt_tools import behaviour_restore

# Exit codes: bad input (source files, arguments, output folder) vs. the environment (Redis, disk).
EXIT_BAD_INPUT = 2
EXIT_FAILURE = 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="recgpt-import",
        description="Import a dataset (UniSRec/RecBole atomic files or MovieLens CSVs) into a catalogue "
        "folder and load its behaviour log into Redis.",
    )
    parser.add_argument(
        "source", type=Path, nargs="?", metavar="SOURCE_DIR", help="dataset folder (optional with --follow)"
    )
    catalogue = os.environ.get("RECGPT_CATALOGUE_DIR")
    parser.add_argument(
        "--out",
        type=Path,
        default=Path(catalogue) if catalogue else None,
        metavar="CATALOGUE_DIR",
        help="the catalogue folder written (default: $RECGPT_CATALOGUE_DIR)",
    )
    parser.add_argument("--format", choices=["auto", *FORMATS], default="auto")
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL"), help="default: $REDIS_URL")
    parser.add_argument(
        "--prefix",
        default=os.environ.get("RECGPT_REDIS_PREFIX", "recgpt"),
        help="Redis key prefix (default: $RECGPT_REDIS_PREFIX or 'recgpt')",
    )
    parser.add_argument("--no-redis", action="store_true", help="write the catalogue folder only")
    parser.add_argument(
        "--hold-out-last",
        action="store_true",
        help="leave out each user's last interaction, so that recgpt-eval on this dataset has unseen targets",
    )
    parser.add_argument(
        "--skip-if-fresh",
        action="store_true",
        help="skip the import when the catalogue records the same source files, and the Redis load "
        "when Redis already holds this catalogue's behaviour",
    )
    parser.add_argument(
        "--follow",
        action="store_true",
        help="then, until SIGTERM/SIGINT, load the catalogue's behaviour again whenever Redis lacks it",
    )
    parser.add_argument(
        "--every",
        type=float,
        default=behaviour_restore.DEFAULT_EVERY_S,
        metavar="SECONDS",
        help=f"how often --follow checks Redis (default {behaviour_restore.DEFAULT_EVERY_S:g})",
    )
    return parser


def _check(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if args.out is None:
        parser.error("--out is required (or RECGPT_CATALOGUE_DIR)")
    if args.source is None and not args.follow:
        parser.error("SOURCE_DIR is required unless --follow")
    if args.follow and args.no_redis:
        parser.error("--follow keeps Redis loaded: not with --no-redis")
    if args.every <= 0:
        parser.error("--every must be positive")


def main(argv: list[str] | None = None) -> None:
    parser = build_parser()
    args = parser.parse_args(argv)
    _check(parser, args)
    try:
        _run(args)
    except (DatasetFormatError, CatalogueTargetError) as error:
        _fail(str(error), EXIT_BAD_INPUT)
    except redis.RedisError as error:
        _fail(f"redis: {error}", EXIT_FAILURE)
    except OSError as error:
        _fail(str(error), EXIT_FAILURE)


def _fail(message: str, code: int) -> None:
    first_line = message.strip().splitlines()[0] if message.strip() else "failed"
    print(f"error: {first_line}", file=sys.stderr)
    sys.exit(code)


def _run(args: argparse.Namespace) -> None:
    client = None
    if not args.no_redis:
        if not args.redis_url:
            _fail("no Redis URL: pass --redis-url, set REDIS_URL, or pass --no-redis", EXIT_BAD_INPUT)
        client = connect_sync(args.redis_url)
        client.ping()  # fail before the import, not after it
        if not isinstance(client, redis.RedisCluster):
            moved = key_migration.migrate(client, args.prefix)
            if moved.renamed or moved.conflicts:
                print(f"renamed {moved.renamed} keys to their current names ({moved.conflicts} left: taken)")
    try:
        if args.source is not None:
            _import(args)
            if client is not None:
                _load(client, args)
        if client is not None and args.follow:
            _follow(client, args)
    finally:
        if client is not None:
            client.close()


def _follow(client: redis.Redis, args: argparse.Namespace) -> None:
    stop = _StopOnSignal()
    restore = behaviour_restore.BehaviourRestore(client, args.prefix, args.out)
    print(f"following Redis: the behaviour of {args.out} under prefix {args.prefix!r}", flush=True)
    behaviour_restore.follow(restore, lambda line: print(line, flush=True), stop.wait, args.every)


class _StopOnSignal:
    """SIGTERM or SIGINT ends the wait between checks at once (within 0.1 s)."""

    def __init__(self) -> None:
        self.requested = False
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._on_signal)

    def _on_signal(self, _signum: int, _frame: FrameType | None) -> None:
        self.requested = True

    def wait(self, seconds: float) -> bool:
        """Waits up to `seconds`; whether a stop was asked for."""
        deadline = time.monotonic() + seconds
        while not self.requested and (left := deadline - time.monotonic()) > 0:
            time.sleep(min(0.1, left))
        return self.requested


def _import(args: argparse.Namespace) -> CatalogueManifest:
    started = time.perf_counter()
    if args.skip_if_fresh:
        fresh = fresh_manifest(args.source, args.out, args.format, args.hold_out_last)
        if fresh is not None:
            print(f"catalogue {args.out} already holds this {fresh.source_format} source: import skipped")
            return fresh
    manifest = import_dataset(
        args.source,
        args.out,
        args.format,
        on_note=lambda n: print(f"note: {n}"),
        held_out_last=args.hold_out_last,
    )
    seconds = time.perf_counter() - started
    print(
        f"imported {manifest.source_format} dataset {args.source} -> {args.out}: {manifest.items} items, "
        f"{manifest.users} users, {manifest.interactions} interactions in {seconds:.2f} s"
    )
    return manifest


def _load(client: redis.Redis, args: argparse.Namespace) -> None:
    started = time.perf_counter()
    wanted = redis_loader.catalogue_fingerprint(args.out)
    if args.skip_if_fresh and redis_loader.loaded_fingerprint(client, args.prefix) == wanted:
        print(f"Redis already holds this behaviour under prefix {args.prefix!r}: load skipped")
        return
    result = redis_loader.load_histories(
        client, args.prefix, redis_loader.read_histories(args.out / BEHAVIOUR_FILE), wanted
    )
    seconds = time.perf_counter() - started
    print(
        f"loaded {result.interactions} interactions of {result.users} users into Redis under prefix "
        f"{args.prefix!r} ({result.removed_users} users of the previous import removed) in {seconds:.2f} s"
    )


if __name__ == "__main__":
    main()
