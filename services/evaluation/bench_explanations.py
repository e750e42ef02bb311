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
import random
import sys
import tempfile
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel

from evaluation.explanation_calls import Ask, Judged, explain_all, judge_all
from evaluation.explanation_quality import (
    ExplanationFigures,
    LlmCost,
    explanation_figures,
    own_source,
    record,
)
from evaluation.settings import EvalSettings
from recgpt.explain.v1 import explain_pb2
from recgpt_domain.catalogue import Item, UserHistory, iter_histories, read_items
from recgpt_domain.datasets.importer import import_dataset
from recgpt_domain.messages import item_to_pb
from recgpt_domain.situation import Situation
from recgpt_serving.service_stubs import ServiceStubsWithJudge

METHODS = {"recgpt-v1": explain_pb2.METHOD_RECGPT_V1, "recgpt-v2": explain_pb2.METHOD_RECGPT_V2}


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
        served = {item_id: item_to_pb(item) for item_id, item in items.items()}
        pending = asks(items, list(iter_histories(catalogue)), args.items, args.per_item, args.seed)
    settings = EvalSettings()
    stubs = ServiceStubsWithJudge(settings)
    figures: dict[str, ExplanationFigures] = {}
    failures: dict[str, dict[str, int]] = {}
    try:
        for name in methods:
            explained = await explain_all(
                stubs, METHODS[name], pending, settings.llm_call_deadline_s, args.concurrency
            )
            made = explained.made
            judged = (
                Judged([record(e, None) for _, e in made], LlmCost(), 0)
                if args.no_judge
                else await judge_all(stubs, made, served, settings.llm_call_deadline_s, args.concurrency)
            )
            failures[name] = {"explain": explained.failed, "judge": judged.failed}
            users = len({ask.user_id for ask in pending})
            figures[name] = found = explanation_figures(
                judged.records, users, explained.cost, judged.cost, own_source(METHODS[name])
            )
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
