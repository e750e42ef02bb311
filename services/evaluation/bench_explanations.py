"""`python -m evaluation.bench_explanations`: the served explainers on the same items for different shoppers.

Each sampled item is explained for several users who bought it, each with an interest from their own log
(their most frequent category) and the situation of their last interaction (season and time of day); V1 and
V2 (meta-prompting) on the same pairs, the cache bypassed. Every explanation is then judged by
agent-as-a-judge in that situation, and evaluation.explanation_quality reports diversity per source,
verdicts, the share passing all seven criteria and the cost per user. Run beside a platform (`make
bench-explanations`: `recgpt-stack exec` gives it the services' addresses).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import random
import sys
import tempfile
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import grpc
from pydantic import BaseModel

from evaluation.explanation_quality import (
    ExplanationFigures,
    ExplanationRecord,
    LlmCost,
    explanation_figures,
    judge_request,
    record,
)
from evaluation.settings import EvalSettings
from recgpt.explain.v1 import explain_pb2
from recgpt.judge.v1 import judge_pb2
from recgpt_domain.catalogue import Item, UserHistory, iter_histories, read_items
from recgpt_domain.datasets.importer import import_dataset
from recgpt_domain.situation import Situation
from recgpt_serving.service_stubs import ServiceStubsWithJudge

log = logging.getLogger(__name__)
METHODS = {"recgpt-v1": explain_pb2.METHOD_RECGPT_V1, "recgpt-v2": explain_pb2.METHOD_RECGPT_V2}


@dataclass(frozen=True)
class Ask:
    user_id: str
    interest: str
    item_id: str
    situation: dict[str, str]


class BenchReport(BaseModel):
    dataset: str
    seed: int
    items: int
    per_item: int
    methods: dict[str, ExplanationFigures]
    # By method: explain calls that failed (no explanation), judge calls that failed (judged as unjudged).
    failed_calls: dict[str, dict[str, int]] = {}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bench-explanations", description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", type=Path, required=True)
    parser.add_argument("--items", type=int, default=10, help="items explained (default 10)")
    parser.add_argument("--per-item", type=int, default=4, help="shoppers per item (default 4)")
    parser.add_argument("--methods", default="recgpt-v1,recgpt-v2")
    parser.add_argument("--no-judge", action="store_true", help="skip agent-as-a-judge")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None)
    return parser


def asks(
    items: dict[str, Item], histories: Sequence[UserHistory], count: int, per_item: int, seed: int
) -> list[Ask]:
    """`per_item` buyers of each of `count` items, with their own interest and situation."""
    rng = random.Random(seed)
    buyers: dict[str, list[UserHistory]] = {}
    for history in histories:
        for item_id in dict.fromkeys(i.item_id for i in history.interactions):
            if item_id in items:
                buyers.setdefault(item_id, []).append(history)
    popular = sorted(item_id for item_id, users in buyers.items() if len(users) >= per_item)
    chosen: list[Ask] = []
    for item_id in rng.sample(popular, min(count, len(popular))):
        for history in rng.sample(buyers[item_id], per_item):
            categories = Counter(
                items[i.item_id].category for i in history.interactions if i.item_id in items
            )
            interest = next(iter(c for c, _ in categories.most_common() if c), items[item_id].category)
            last = history.interactions[-1].timestamp
            situation = Situation.at(datetime.fromtimestamp(last, UTC)) if last else Situation()
            values = {"season": situation.season, "time_of_day": situation.time_of_day}
            chosen.append(Ask(history.user_id, interest, item_id, values))
    return chosen


async def explain_all(
    stubs: ServiceStubsWithJudge,
    method: int,
    pending: Sequence[Ask],
    settings: EvalSettings,
    concurrency: int,
) -> tuple[list[tuple[Ask, explain_pb2.Explanation]], LlmCost, int]:
    slots = asyncio.Semaphore(concurrency)
    usage = [0, 0, 0.0]
    failed = [0]

    async def one(ask: Ask) -> tuple[Ask, explain_pb2.Explanation] | None:
        request = explain_pb2.ExplainRequest(
            user_id=ask.user_id,
            method=method,  # type: ignore[arg-type]
            pairs=[explain_pb2.ExplainPair(interest=ask.interest, item_id=ask.item_id)],
            situation=ask.situation,
            bypass_cache=True,
        )
        async with slots:
            try:
                reply = await stubs.explain.Explain(request, timeout=settings.llm_call_deadline_s)
            except grpc.aio.AioRpcError as error:
                log.warning("explain failed", extra={"code": error.code().name})
                failed[0] += 1
                return None
        usage[0] += reply.usage.prompt_tokens
        usage[1] += reply.usage.completion_tokens
        usage[2] += reply.usage.engine_seconds
        return (ask, reply.explanations[0]) if reply.explanations else None

    made = [entry for entry in await asyncio.gather(*(one(a) for a in pending)) if entry is not None]
    return made, LlmCost(int(usage[0]), int(usage[1]), float(usage[2])), failed[0]


async def judge_all(
    stubs: ServiceStubsWithJudge,
    made: Sequence[tuple[Ask, explain_pb2.Explanation]],
    items: dict[str, Item],
    settings: EvalSettings,
    concurrency: int,
) -> tuple[list[ExplanationRecord], LlmCost, int]:
    slots = asyncio.Semaphore(concurrency)
    usage = [0, 0, 0.0]
    failed = [0]

    async def one(ask: Ask, explanation: explain_pb2.Explanation) -> ExplanationRecord:
        request = judge_request([explanation], items, ask.situation, user_id=ask.user_id)
        async with slots:
            try:
                reply = await stubs.judge.Judge(request, timeout=settings.llm_call_deadline_s)
            except grpc.aio.AioRpcError as error:
                log.warning("judge failed", extra={"code": error.code().name})
                failed[0] += 1
                return record(explanation, None)
        usage[0] += reply.usage.prompt_tokens
        usage[1] += reply.usage.completion_tokens
        usage[2] += reply.usage.engine_seconds
        judgement: judge_pb2.Judgement | None = reply.judgements[0] if reply.judgements else None
        return record(explanation, judgement)

    records = await asyncio.gather(*(one(a, e) for a, e in made))
    return list(records), LlmCost(int(usage[0]), int(usage[1]), float(usage[2])), failed[0]


async def amain(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    methods = [name.strip() for name in args.methods.split(",") if name.strip()]
    if not methods or set(methods) - set(METHODS) or args.items < 1 or args.per_item < 2:
        print(
            f"error: bad arguments (methods of {sorted(METHODS)}, items >= 1, per-item >= 2)", file=sys.stderr
        )
        return 2
    with tempfile.TemporaryDirectory(prefix="recgpt-bench-explanations-") as scratch:
        catalogue = Path(scratch) / "catalogue"
        import_dataset(args.dataset, catalogue)
        items = {item.item_id: item for item in read_items(catalogue)}
        pending = asks(items, list(iter_histories(catalogue)), args.items, args.per_item, args.seed)
    settings = EvalSettings()
    stubs = ServiceStubsWithJudge(settings)
    figures: dict[str, ExplanationFigures] = {}
    failures: dict[str, dict[str, int]] = {}
    try:
        for name in methods:
            made, explaining, unexplained = await explain_all(
                stubs, METHODS[name], pending, settings, args.concurrency
            )
            if args.no_judge:
                records, judging, unjudged = [record(e, None) for _, e in made], LlmCost(), 0
            else:
                records, judging, unjudged = await judge_all(stubs, made, items, settings, args.concurrency)
            failures[name] = {"explain": unexplained, "judge": unjudged}
            users = len({ask.user_id for ask in pending})
            figures[name] = found = explanation_figures(records, users, explaining, judging)
            print(f"{name}: {found.model_dump_json()}", file=sys.stderr, flush=True)
            for ask, explanation in made[: 2 * args.per_item]:
                print(f"  {name} {ask.item_id} [{explanation.style}] {explanation.text}", file=sys.stderr)
    finally:
        await stubs.close()
    report = BenchReport(
        dataset=str(args.dataset),
        seed=args.seed,
        items=args.items,
        per_item=args.per_item,
        methods=figures,
        failed_calls=failures,
    )
    print(report.model_dump_json(indent=2))
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(report.model_dump_json(indent=2) + "\n")
    return 0


def main() -> None:
    sys.exit(asyncio.run(amain()))


if __name__ == "__main__":
    main()
