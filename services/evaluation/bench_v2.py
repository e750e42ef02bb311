"""`make bench-v2 DATASET= USERS= OUT=`: RecGPT-V1 (single call and multi-route) against RecGPT-V2 (planner ->
experts -> arbiter), LLM cost and tag HR@30 on the same held-out users, against the running platform.

The dataset is imported as `make eval` imports it; N users with at least two interactions are drawn by
the seed and each user's last interaction is held out (`evaluation.split`); the platform must serve the log
without those targets (`make bench-v2` starts it so), which retrieval's co-occurrence fingerprint confirms
(`evaluation.leakage`). The variants run one after another over every user, so that each has the engine to
itself: its wall time per user is a second measure of its cost beside the sum of its calls' latencies. After
its tags, each variant's explanations are written and judged (`evaluation.bench_v2_explanations`), timed
apart from the tags.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
from pydantic import ValidationError

from evaluation import metrics
from evaluation.bench_v2_explanations import asks_for, explanation_report, most_bought_by_category
from evaluation.bench_v2_figures import K, UserCase, VariantRun, reduction, variant_figures
from evaluation.bench_v2_variants import (
    V1_MULTIROUTE,
    V2_ENTITY,
    V2_TEXT,
    VARIANTS,
    BenchOptions,
    Variants,
)
from evaluation.catalogue_check import served_items
from evaluation.dataset import load
from evaluation.leakage import loaded_cooccurrence
from evaluation.settings import EvalSettings
from evaluation.split import Split, choose
from evaluation.tag_baselines import frequent_then_transitions, training_transitions
from recgpt.common.v1 import common_pb2
from recgpt.explain.v1 import explain_pb2
from recgpt_domain.category_transitions import CategoryTransitions
from recgpt_domain.datasets.errors import CatalogueTargetError, DatasetFormatError
from recgpt_domain.datasets.formats import FORMATS
from recgpt_domain.messages import interaction_to_pb
from recgpt_serving import logs
from recgpt_serving.service_stubs import ServiceStubsWithJudge

log = logging.getLogger(__name__)

EXIT_BAD_INPUT = 2
EXIT_FAILURE = 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bench-v2",
        description="LLM cost and tag HR@30 of RecGPT-V1 (single, multi-route) and RecGPT-V2.",
    )
    parser.add_argument("--dataset", type=Path, required=True, help="dataset folder (UniSRec or MovieLens)")
    parser.add_argument("--format", choices=["auto", *FORMATS], default="auto")
    parser.add_argument("--users", type=int, default=30)
    parser.add_argument("--out", type=Path, required=True, help="JSON report file")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--concurrency", type=int, default=4, help="users at once within a variant")
    parser.add_argument("--routes", type=int, default=3, help="V1 multi-route: tag routes (K)")
    parser.add_argument("--personas", type=int, default=3, help="V2: personas asked of the planner (K)")
    parser.add_argument("--expert-tags", type=int, default=0, help="V2: picks per expert (0: the service's)")
    parser.add_argument("--arbiter-tags", type=int, default=0, help="V2: the arbiter's N (0: the service's)")
    parser.add_argument(
        "--variants", default=",".join(VARIANTS), help=f"comma-separated, of {', '.join(VARIANTS)}"
    )
    parser.add_argument(
        "--explain-items",
        type=int,
        default=2,
        help="explanations per user and variant, of items from its first tags (0: none; default 2)",
    )
    parser.add_argument("--no-judge", action="store_true", help="explanations without agent-as-a-judge")
    return parser


def main(argv: list[str] | None = None) -> None:
    sys.exit(asyncio.run(amain(argv)))


async def amain(argv: list[str] | None = None) -> int:
    """The whole command; returns the exit status (tests await it on their own event loop)."""
    args = build_parser().parse_args(argv)
    variants = [name.strip() for name in args.variants.split(",") if name.strip()]
    problem = _check_args(args, variants)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        settings = EvalSettings()
    except (ValidationError, OSError, ValueError) as error:
        print(f"error: settings: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    logs.configure("evaluation", settings.log_level)
    try:
        dataset = load(args.dataset, args.format, "recgpt-bench-v2-")
    except (DatasetFormatError, CatalogueTargetError) as error:
        print(f"error: {str(error).strip().splitlines()[0]}", file=sys.stderr)
        return EXIT_BAD_INPUT
    splits = dataset.splits
    stubs = ServiceStubsWithJudge(settings)
    try:
        served = await served_items(
            stubs.retrieval,
            [i.item_id for s in splits for i in (*s.history, s.target)],
            settings.retrieval_deadline_s,
        )
        cooccurrence = await loaded_cooccurrence(
            stubs.retrieval,
            settings.retrieval_deadline_s,
            full_log_fingerprint=dataset.full_log_fingerprint,
            held_out_fingerprint=dataset.held_out_fingerprint,
        )
        selected = choose(splits, args.users, args.seed)
        runnable = [split for split in selected if split.target.item_id in served]
        transitions = training_transitions(splits, selected, served)
        cases = {split.user_id: user_case(split, served, transitions) for split in runnable}
        explaining = Explaining(
            stubs,
            served,
            most_bought_by_category((i.item_id for s in splits for i in s.history), served),
            {split.user_id: float(split.history[-1].timestamp) for split in runnable if split.history},
            args.explain_items,
            judge=not args.no_judge,
            deadline_s=settings.llm_call_deadline_s,
            concurrency=args.concurrency,
        )
        options = BenchOptions(
            deadline_s=settings.llm_call_deadline_s,
            routes=args.routes,
            personas=args.personas,
            expert_tags=args.expert_tags,
            arbiter_tags=args.arbiter_tags,
        )
        runner = Variants(stubs.intent, stubs.tags, options)
        report: dict[str, Any] = {
            "selection": {
                "dataset": str(args.dataset),
                "seed": args.seed,
                "requested": args.users,
                "eligible": len(splits),
                "selected": len(selected),
                "targets_not_served": len(selected) - len(runnable),
                "targets_seen_by_platform": cooccurrence.targets_seen if cooccurrence is not None else None,
                "concurrency": args.concurrency,
                "routes": args.routes,
                "personas": args.personas,
                "k": K,
                "explain_items": args.explain_items,
                "judged": not args.no_judge,
            }
        }
        for variant in variants:
            figures, runs = await _run_variant(runner, variant, runnable, served, cases, args.concurrency)
            print(f"{variant}: tags of {len(runs)} users in {figures['wall_seconds']:.0f} s", file=sys.stderr)
            if args.explain_items:
                figures["explanations"] = explained = await explaining.report(variant, runs)
                print(
                    f"{variant}: {explained['explanations']} explanations, {explained['wall_seconds']:.0f} s",
                    file=sys.stderr,
                )
            report[variant] = figures
    except grpc.aio.AioRpcError as error:
        print(f"error: the services: {error.code().name}: {error.details()}", file=sys.stderr)
        return EXIT_FAILURE
    finally:
        await stubs.close()
    report["comparison"] = comparison(report)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(summary(report, variants))
    print(f"\nreport written to {args.out}")
    if not runnable:
        print("error: no user could be evaluated", file=sys.stderr)
        return EXIT_FAILURE
    return 0


def _check_args(args: argparse.Namespace, variants: Sequence[str]) -> str:
    if args.users < 1:
        return "--users must be at least 1"
    if args.concurrency < 1 or args.routes < 1 or args.personas < 1:
        return "--concurrency, --routes and --personas must be at least 1"
    if args.explain_items < 0:
        return "--explain-items must be 0 or more"
    unknown = [name for name in variants if name not in VARIANTS]
    if unknown or not variants:
        return f"--variants: unknown {unknown}, expected some of {', '.join(VARIANTS)}"
    return ""


def user_case(
    split: Split, served: Mapping[str, common_pb2.Item], transitions: CategoryTransitions
) -> UserCase:
    """The target's category and frequent + transitions over the served part of the user's history."""
    history = [served[i.item_id] for i in split.history if i.item_id in served]
    recent_first = [_category(item) for item in reversed(history)]
    frequent = metrics.most_frequent(recent_first, K)
    last = recent_first[0] if recent_first else ""
    return UserCase(
        user_id=split.user_id,
        target_category=_category(served[split.target.item_id]),
        statistics=frequent_then_transitions(frequent, last, transitions, K),
        history_interactions=len(split.history),
    )


def _category(item: common_pb2.Item) -> str:
    return item.category_path[-1] if item.category_path else ""


async def _run_variant(
    runner: Variants,
    variant: str,
    splits: Sequence[Split],
    served: Mapping[str, common_pb2.Item],
    cases: Mapping[str, UserCase],
    concurrency: int,
) -> tuple[dict[str, object], list[tuple[UserCase, VariantRun]]]:
    """Every user through one variant, `concurrency` at a time; a user whose services fail is left out.
    Returns the variant's figures and the users' answers."""
    slots = asyncio.Semaphore(concurrency)

    async def one(split: Split) -> tuple[UserCase, VariantRun] | None:
        behaviour = [interaction_to_pb(i) for i in split.history if i.item_id in served]
        async with slots:
            try:
                run = await runner.run(variant, f"bench:{split.user_id}", behaviour)
            except grpc.aio.AioRpcError as error:
                log.warning(
                    "user left out of a variant",
                    extra={
                        "variant": variant,
                        "user_id": split.user_id,
                        "code": error.code().name,
                        "details": error.details(),
                    },
                )
                return None
        return cases[split.user_id], run

    started = time.perf_counter()
    outcomes = await asyncio.gather(*(one(split) for split in splits))
    wall_s = time.perf_counter() - started
    runs = [outcome for outcome in outcomes if outcome is not None]
    figures = variant_figures(runs, failed=len(outcomes) - len(runs))
    figures["wall_seconds"] = wall_s
    figures["wall_seconds_per_user"] = wall_s / len(runs) if runs else None
    return figures, runs


@dataclass(frozen=True)
class Explaining:
    """Each variant's explanations, after its tags: the V2 variants' by meta-prompting, the V1 ones' by V1."""

    stubs: ServiceStubsWithJudge
    served: Mapping[str, common_pb2.Item]
    items_by_category: Mapping[str, str]
    last_seen_s: Mapping[str, float]
    per_user: int
    judge: bool
    deadline_s: float
    concurrency: int

    async def report(self, variant: str, runs: Sequence[tuple[UserCase, VariantRun]]) -> dict[str, object]:
        v2 = variant in (V2_TEXT, V2_ENTITY)
        asks = [
            ask
            for case, run in runs
            for ask in asks_for(
                f"bench:{case.user_id}",
                run,
                self.items_by_category,
                self.last_seen_s.get(case.user_id, 0.0),
                self.per_user,
                v2,
            )
        ]
        started = time.perf_counter()
        figures = await explanation_report(
            self.stubs,
            explain_pb2.METHOD_RECGPT_V2 if v2 else explain_pb2.METHOD_RECGPT_V1,
            asks,
            self.served,
            self.deadline_s,
            self.concurrency,
            judge=self.judge,
        )
        figures["wall_seconds"] = time.perf_counter() - started
        return figures


def comparison(report: Mapping[str, Any]) -> dict[str, object]:
    """The planners' targets, for each V2 variant that ran beside V1 multi-route: its saving against it, and
    its picks topped up against the statistics alone."""
    multiroute = report.get(V1_MULTIROUTE)
    if not isinstance(multiroute, dict):
        return {}
    hr = f"tag_hit_rate_at_{K}"
    compared: dict[str, object] = {}
    for variant in (V2_TEXT, V2_ENTITY):
        v2 = report.get(variant)
        if not isinstance(v2, dict):
            continue
        compared[variant] = {
            "engine_seconds_saved_vs_v1_multiroute": reduction(
                v2["engine_seconds_per_user"], multiroute["engine_seconds_per_user"]
            ),
            "prompt_tokens_saved_vs_v1_multiroute": reduction(
                v2["prompt_tokens_per_user"], multiroute["prompt_tokens_per_user"]
            ),
            "tag_hit_rate_difference_vs_v1_multiroute": _difference(v2[hr]["all"], multiroute[hr]["all"]),
            "topped_up_minus_frequent_transitions_llm": _difference(
                v2["topped_up_hit_rate"]["llm"], v2["frequent_transitions_hit_rate"]["llm"]
            ),
        }
    return compared


def _difference(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a - b


def summary(report: Mapping[str, Any], variants: Sequence[str]) -> str:
    hr = f"tag_hit_rate_at_{K}"
    lines = [
        f"{'variant':<15} {'users':>5} {'prompt/u':>9} {'compl/u':>8} {'eng-s/u':>8} "
        f"{'HR@30':>6} {'+f+t':>6} {'f+t':>6}"
    ]
    for variant in variants:
        figures = report[variant]
        lines.append(
            f"{variant:<15} {figures['users']:>5} {figures['prompt_tokens_per_user']:>9.0f} "
            f"{figures['completion_tokens_per_user']:>8.0f} {figures['engine_seconds_per_user']:>8.2f} "
            f"{_rate(figures[hr]['all'])} {_rate(figures['topped_up_hit_rate']['all'])} "
            f"{_rate(figures['frequent_transitions_hit_rate']['all'])}"
        )
    explained = [variant for variant in variants if "explanations" in report[variant]]
    if explained:
        lines.append(
            f"\n{'explanations':<15} {'texts':>5} {'fallbk':>6} {'div':>6} {'div-llm':>7} {'S+A':>6} "
            f"{'all-7':>6} {'expl-s/u':>8} {'judge-s/u':>9}"
        )
    lines.extend(_explanation_line(variant, report[variant]["explanations"]) for variant in explained)
    return "\n".join(lines)


def _explanation_line(variant: str, figures: Mapping[str, Any]) -> str:
    """Fallback and diversity of the variant's own explainer's texts (meta-prompted for V2, V1's LLM for
    V1), verdicts over all judged texts, engine-seconds per user explaining and judging."""
    own = figures["own_source"]
    verdicts = figures["verdicts"]
    passed = verdicts.get("superior", 0.0) + verdicts.get("average", 0.0) if figures["judged"] else None
    cost = figures["cost_per_user"]
    return (
        f"{variant:<15} {figures['explanations']:>5} {_rate(figures['fallback_share'])} "
        f"{_rate(figures['diversity'][own]['value'])} {_rate(figures['diversity']['llm']['value']):>7} "
        f"{_rate(passed)} {_rate(figures['all_seven_passed'])} {cost['explain']['engine_seconds']:>8.2f} "
        f"{cost['judge']['engine_seconds']:>9.2f}"
    )


def _rate(value: float | None) -> str:
    return f"{value:>6.3f}" if value is not None else f"{'-':>6}"


if __name__ == "__main__":
    main()
