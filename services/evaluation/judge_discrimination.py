"""`recgpt-judge-discrimination`: does the judge rank the true artefact above the false one?

Builds the discrimination sets from a dataset (evaluation.discrimination_sets), and the free-form set from
what the explainers write on the engine (evaluation.free_form_set), scores both sides of every pair with each
scorer (evaluation.judge_scorers: the served judge's verdicts, and likelihood scoring;
evaluation.agent_judge_scorer: agent-as-a-judge) on a running vLLM, and prints the agreement per set: wins +
half the ties, over the pairs scored. A judge that passes everything scores 0.5 (all ties).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from pydantic import BaseModel
from tqdm import tqdm  # type: ignore[import-untyped]

from evaluation import free_form_set
from evaluation.agent_judge_scorer import AgentJudgeScorer
from evaluation.discrimination_sets import Pair, build_sets
from evaluation.free_form_set import META_PROMPTED, PROMPTED, Explainer
from evaluation.judge_scorers import LikelihoodScorer, ScoringError, VerdictLikelihoodScorer, VerdictScorer
from recgpt_domain.catalogue import iter_histories, read_items
from recgpt_domain.datasets.errors import CatalogueTargetError, DatasetFormatError
from recgpt_domain.datasets.importer import import_dataset
from recgpt_serving.llm.client import LlmClient, LlmSettings
from recgpt_serving.llm.models import DEFAULT_MODEL_NAME

SCORERS = ("llm_verdict", "verdict", "yes_no_logodds", "likelihood", "agent_as_judge", "agent_rules")


class Scorer(Protocol):
    name: str

    async def score(self, pair: Pair, text: str) -> float: ...


class Agreement(BaseModel):
    pairs: int
    scored: int
    wins: int
    ties: int
    losses: int
    # (wins + ties / 2) / scored; null when nothing was scored.
    agreement: float | None
    seconds: float


class DiscriminationReport(BaseModel):
    dataset: str
    seed: int
    model: str
    per_set: int
    rule: str = "agreement = (wins + ties/2) / scored pairs; a win: the true artefact scored higher"
    sets: dict[str, dict[str, Agreement]]
    # agent_as_judge per set: its verdicts ("v1_*": the V1 judge answered instead) and why it fell back.
    panel: dict[str, dict[str, dict[str, int]]] = {}
    # The free-form set's explanations by explainer, as written (and kept: grounded).
    free_form_written: dict[str, int] = {}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="recgpt-judge-discrimination", description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", type=Path, required=True)
    parser.add_argument("--endpoint", required=True, help="vLLM's OpenAI root, http://host:port/v1")
    parser.add_argument("--model", default=DEFAULT_MODEL_NAME, help="served model (or adapter) name")
    parser.add_argument("--per-set", type=int, default=40, help="pairs per set (default 40)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--scorers", default=",".join(SCORERS), help=f"comma-separated of {SCORERS}")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument(
        "--deadline-s", type=float, default=120.0, help="each LLM call's deadline (a busy engine needs more)"
    )
    parser.add_argument(
        "--free-form",
        type=int,
        default=None,
        help="pairs of the free-form set (default: --per-set; 0 leaves it out)",
    )
    parser.add_argument(
        "--explainer-adapters",
        default="",
        help="comma-separated served adapters of the explainer that also write the free-form set",
    )
    parser.add_argument("--out", type=Path, default=None, help="JSON report")
    return parser


def main(argv: list[str] | None = None) -> None:
    sys.exit(asyncio.run(amain(argv)))


async def amain(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    chosen = [name.strip() for name in args.scorers.split(",") if name.strip()]
    unknown = sorted(set(chosen) - set(SCORERS))
    if unknown or not chosen or args.per_set < 1 or args.concurrency < 1:
        print(f"error: bad arguments (scorers {unknown or chosen}, per-set, concurrency)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="recgpt-judge-") as scratch:
        try:
            catalogue = Path(scratch) / "catalogue"
            import_dataset(args.dataset, catalogue)
        except (DatasetFormatError, CatalogueTargetError) as error:
            print(f"error: {str(error).strip().splitlines()[0]}", file=sys.stderr)
            return 2
        items = read_items(catalogue)
        sets = build_sets(items, iter_histories(catalogue), args.per_set, args.seed)
    settings = LlmSettings(endpoints=[args.endpoint], model=args.model, deadline_s=args.deadline_s)
    free_form = args.per_set if args.free_form is None else args.free_form
    explainers = [Explainer(PROMPTED), Explainer(META_PROMPTED)] + [
        Explainer(PROMPTED, name.strip()) for name in args.explainer_adapters.split(",") if name.strip()
    ]
    results: dict[str, dict[str, Agreement]] = {}
    panel: dict[str, dict[str, dict[str, int]]] = {}
    written_by: dict[str, int] = {}
    async with LlmClient(settings) as client:
        if free_form > 0:
            pairs, written = await free_form_set.build_free_form(
                client, items, free_form, args.seed, explainers, args.concurrency
            )
            sets[free_form_set.SET_NAME] = pairs
            for entry in written:
                written_by[entry.explainer] = written_by.get(entry.explainer, 0) + 1
            print(f"free_form written: {written_by}", file=sys.stderr, flush=True)
        answers: dict[str, float] = {}
        verdict = VerdictScorer(client, items, answers=answers)
        agent_judge = AgentJudgeScorer(client, items, verdict)
        scorers: dict[str, Scorer] = {
            "llm_verdict": VerdictScorer(client, items, with_rule=False, answers=answers),
            "verdict": verdict,
            "yes_no_logodds": VerdictLikelihoodScorer(client),
            "likelihood": LikelihoodScorer(client),
            "agent_as_judge": agent_judge,
            "agent_rules": AgentJudgeScorer(client, items, verdict, rules_only=True),
        }
        for set_name, pairs in sets.items():
            results[set_name] = {}
            for name in chosen:
                agent_judge.verdicts.clear()
                agent_judge.fallbacks.clear()
                agent_judge.member_failures.clear()
                results[set_name][name] = figure = await measure(scorers[name], pairs, args.concurrency)
                if name == agent_judge.name:
                    panel[set_name] = {
                        "verdicts": dict(agent_judge.verdicts),
                        "fallbacks": dict(agent_judge.fallbacks),
                        "member_failures": dict(agent_judge.member_failures),
                    }
                # As each is measured: a long run shows its figures before it ends.
                print(f"{set_name} {name}: {figure.model_dump_json()}", file=sys.stderr, flush=True)
    report = DiscriminationReport(
        dataset=str(args.dataset),
        seed=args.seed,
        model=args.model,
        per_set=args.per_set,
        sets=results,
        panel=panel,
        free_form_written=written_by,
    )
    print(table(report))
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(report.model_dump_json(indent=2) + "\n")
        print(f"report written to {args.out}")
    return 0


async def measure(scorer: Scorer, pairs: Sequence[Pair], concurrency: int) -> Agreement:
    """Both sides of each pair scored, `concurrency` pairs at a time; an unscored side drops the pair."""
    slots = asyncio.Semaphore(concurrency)
    started = time.perf_counter()
    bar = tqdm(total=len(pairs), desc=f"{scorer.name}", unit="pair", file=sys.stderr, leave=False)

    async def one(pair: Pair) -> float | None:
        async with slots:
            try:
                true, false = await asyncio.gather(
                    scorer.score(pair, pair.true_text), scorer.score(pair, pair.false_text)
                )
            except ScoringError:
                return None
            finally:
                bar.update(1)
        return true - false

    try:
        margins = [m for m in await asyncio.gather(*(one(pair) for pair in pairs)) if m is not None]
    finally:
        bar.close()
    return agreement(len(pairs), margins, time.perf_counter() - started)


def agreement(pairs: int, margins: Sequence[float], seconds: float = 0.0) -> Agreement:
    """From each scored pair's margin (true minus false score)."""
    wins = sum(1 for m in margins if m > 0)
    ties = sum(1 for m in margins if m == 0)
    losses = len(margins) - wins - ties
    return Agreement(
        pairs=pairs,
        scored=len(margins),
        wins=wins,
        ties=ties,
        losses=losses,
        agreement=(wins + ties / 2) / len(margins) if margins else None,
        seconds=round(seconds, 1),
    )


def table(report: DiscriminationReport) -> str:
    lines = [
        f"judge discrimination on {report.dataset} (seed {report.seed}, model {report.model}); {report.rule}",
        f"{'set':<18}{'scorer':<16}{'agreement':>10}{'wins':>6}{'ties':>6}{'losses':>8}{'scored':>8}{'s':>8}",
    ]
    for set_name, by_scorer in report.sets.items():
        for name, figure in by_scorer.items():
            value = "-" if figure.agreement is None else f"{figure.agreement:.3f}"
            lines.append(
                f"{set_name:<18}{name:<16}{value:>10}{figure.wins:>6}{figure.ties:>6}{figure.losses:>8}"
                f"{figure.scored:>5}/{figure.pairs:<3}{figure.seconds:>7.1f}"
            )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
