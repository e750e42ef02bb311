"""`recgpt-import SOURCE_DIR --out CATALOGUE_DIR`: dataset folder -> catalogue folder -> Redis."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import redis

from recgpt_domain.catalogue import BEHAVIOUR_FILE, CatalogueManifest
from recgpt_domain.datasets import redis_loader
from recgpt_domain.datasets.errors import CatalogueTargetError, DatasetFormatError
from recgpt_domain.datasets.formats import FORMATS
from recgpt_domain.datasets.importer import fresh_manifest, import_dataset

# Exit codes: bad input (source files, arguments, output folder) vs. the environment (Redis, disk).
EXIT_BAD_INPUT = 2
EXIT_FAILURE = 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="recgpt-import",
        description="Import a dataset (UniSRec/RecBole atomic files or MovieLens CSVs) into a catalogue "
        "folder and load its behaviour log into Redis.",
    )
    parser.add_argument("source", type=Path, metavar="SOURCE_DIR", help="dataset folder")
    parser.add_argument("--out", type=Path, required=True, metavar="CATALOGUE_DIR")
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
    return parser


def main(argv: list[str] | None = None) -> None:
    parser = build_parser()
    args = parser.parse_args(argv)
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
        client = redis.Redis.from_url(args.redis_url, decode_responses=True)
        client.ping()  # fail before the import, not after it
    try:
        _import(args)
        if client is not None:
            _load(client, args)
    finally:
        if client is not None:
            client.close()


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
