"""`recgpt-eval --dataset DIR --users N --out FILE`: leave-last-out evaluation of baseline vs RecGPT-V1.

The dataset (UniSRec atomic files or MovieLens CSVs) is imported into a temporary folder, N users with at
least two interactions are drawn by the seed, and each user's last interaction is held out. Every user
goes through the running services (retrieval, intent, tags, explain, judge) with the rest of their history,
ranked with the settings the gateway serves with (`RankingSettings`: tag count, fusion weights, beta); the
report compares the arms on the same users, splits every LLM figure by who answered (the LLM or a
fallback), and says what the platform saw of the users, on the terminal and as JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import grpc
from pydantic import ValidationError
from tqdm import tqdm  # type: ignore[import-untyped]

from evaluation.catalogue_check import served_items
from evaluation.dataset import Dataset, load
from evaluation.leakage import loaded_cooccurrence
from evaluation.report import Report, Selection, aggregate
from evaluation.runner import EvalOptions, Evaluator, UserEval
from evaluation.settings import EvalSettings
from evaluation.split import Split, choose
from evaluation.table import table
from evaluation.tag_baselines import training_transitions
from recgpt_domain.datasets.errors import CatalogueTargetError, DatasetFormatError
from recgpt_domain.datasets.formats import FORMATS
from recgpt_domain.ranking_settings import RankingSettings
from recgpt_serving import logs
from recgpt_serving.llm.batch import BATCH_CONCURRENCY
from recgpt_serving.service_stubs import ServiceStubsWithJudge

log = logging.getLogger(__name__)

EXIT_BAD_INPUT = 2
EXIT_FAILURE = 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="recgpt-eval", description="Offline leave-last-out evaluation of the baseline and RecGPT-V1."
    )
    parser.add_argument("--dataset", type=Path, required=True, help="dataset folder (UniSRec or MovieLens)")
    parser.add_argument("--format", choices=["auto", *FORMATS], default="auto")
    parser.add_argument("--users", type=int, default=200, help="users to evaluate (default 200)")
    parser.add_argument("--out", type=Path, required=True, help="JSON report file")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--concurrency",
        type=int,
        default=BATCH_CONCURRENCY,
        help=f"users at once (vLLM batches them; default {BATCH_CONCURRENCY})",
    )
    parser.add_argument("--explain-items", type=int, default=3, help="RecGPT-V1 items explained per user")
    parser.add_argument("--judge", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--no-progress", action="store_true")
    return parser


def main(argv: list[str] | None = None) -> None:
    sys.exit(asyncio.run(amain(argv)))


async def amain(argv: list[str] | None = None) -> int:
    """The whole command; returns the exit status (tests await it on their own event loop)."""
    args = build_parser().parse_args(argv)
    problem = _check_args(args)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        settings = EvalSettings()
        # What the gateway serves with: the same class, from the same environment.
        ranking = RankingSettings()
    except (ValidationError, OSError, ValueError) as error:
        print(f"error: settings: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    logs.configure("evaluation", settings.log_level)
    try:
        dataset = load(args.dataset, args.format, "recgpt-eval-")
    except (DatasetFormatError, CatalogueTargetError) as error:
        print(f"error: {str(error).strip().splitlines()[0]}", file=sys.stderr)
        return EXIT_BAD_INPUT
    stubs = ServiceStubsWithJudge(settings)
    try:
        report = await _evaluate(args, settings, ranking, stubs, dataset)
    except grpc.aio.AioRpcError as error:
        print(f"error: the services: {error.code().name}: {error.details()}", file=sys.stderr)
        return EXIT_FAILURE
    finally:
        await stubs.close()
    print(table(report))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report.model_dump_json(indent=2) + "\n")
    print(f"\nreport written to {args.out}")
    if not report.users.evaluated:
        # Nothing to compare: every user failed, or the services serve another catalogue.
        print("error: no user could be evaluated", file=sys.stderr)
        return EXIT_FAILURE
    return 0


def _check_args(args: argparse.Namespace) -> str:
    if args.users < 1:
        return "--users must be at least 1"
    if args.concurrency < 1:
        return "--concurrency must be at least 1"
    if args.explain_items < 0:
        return "--explain-items must be at least 0"
    return ""


async def _evaluate(
    args: argparse.Namespace,
    settings: EvalSettings,
    ranking: RankingSettings,
    stubs: ServiceStubsWithJudge,
    dataset: Dataset,
) -> Report:
    started = time.perf_counter()
    served = await served_items(stubs.retrieval, dataset.item_ids, settings.retrieval_deadline_s)
    cooccurrence = await loaded_cooccurrence(
        stubs.retrieval,
        settings.retrieval_deadline_s,
        full_log_fingerprint=dataset.full_log_fingerprint,
        held_out_fingerprint=dataset.held_out_fingerprint,
    )
    selected = choose(dataset.splits, args.users, args.seed)
    runnable = [split for split in selected if split.target.item_id in served]
    options = EvalOptions(
        ranking=ranking,
        explain_items=args.explain_items,
        judge=args.judge,
        llm_deadline_s=settings.llm_call_deadline_s,
        retrieval_deadline_s=settings.retrieval_deadline_s,
    )
    transitions = training_transitions(dataset.splits, selected, served)
    results, failed_ids = await _run_users(
        Evaluator(stubs, options, served, transitions), runnable, args.concurrency, args.no_progress
    )
    item_ids = set(dataset.item_ids)
    selection = Selection(
        dataset=str(args.dataset),
        seed=args.seed,
        requested=args.users,
        eligible=len(dataset.splits),
        selected=len(selected),
        dataset_items=len(item_ids),
        dataset_items_not_served=len(item_ids - served.keys()),
        targets_not_served=len(selected) - len(runnable),
        history_items_not_served=sum(
            1 for split in runnable for item_id in split.history_ids if item_id not in served
        ),
        cooccurrence=cooccurrence,
        targets_seen_by_platform=cooccurrence.targets_seen if cooccurrence is not None else None,
    )
    return aggregate(
        results,
        selection,
        failed_ids=failed_ids,
        ranking=ranking,
        wall_s=time.perf_counter() - started,
        concurrency=args.concurrency,
        transitions=transitions,
    )


async def _run_users(
    evaluator: Evaluator, splits: Sequence[Split], concurrency: int, quiet: bool
) -> tuple[list[UserEval], list[str]]:
    """Every user, `concurrency` at a time; a user whose services fail is logged and left out.

    Returns the results and the ids of the users left out.
    """
    slots = asyncio.Semaphore(concurrency)
    bar = tqdm(total=len(splits), unit="user", file=sys.stderr, disable=quiet, dynamic_ncols=True)

    async def one(split: Split) -> UserEval | None:
        async with slots:
            try:
                return await evaluator.evaluate(split)
            except grpc.aio.AioRpcError as error:
                log.warning(
                    "user evaluation failed",
                    extra={"user_id": split.user_id, "code": error.code().name, "details": error.details()},
                )
                return None
            finally:
                bar.update(1)

    try:
        outcomes = await asyncio.gather(*(one(split) for split in splits))
    finally:
        bar.close()
    # In the order of the chosen users, so that reports of the same seed line up.
    failed = [split.user_id for split, outcome in zip(splits, outcomes, strict=True) if outcome is None]
    return [outcome for outcome in outcomes if outcome is not None], failed


if __name__ == "__main__":
    main()
