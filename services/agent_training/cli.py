"""`recgpt-train sft|grpo|eval-*`: trains an agent's LoRA adapter, or measures adapters.

Runs as one process, or data-parallel under `torchrun --nproc-per-node N -m agent_training.cli ...` (or
`accelerate launch`): the trainers shard the batches, rank 0 writes the adapter.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

from agent_training import artefact
from agent_training.agents import JUDGE, TAGS, UnknownAgent, resolve
from agent_training.data import DataConfig, NoUsableExamples
from agent_training.job import Job, TrainSettings
from agent_training.model import BaseModel, LoraSettings, default_model_folder
from recgpt_domain import artefact_store
from recgpt_domain.artefact_store import ArtefactStoreSettings

EXIT_BAD_INPUT = 2


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--agent",
        required=True,
        help="tag_predictor | interest_miner | explainer | judge_verdict | tag_expert (or tags, ...)",
    )
    parser.add_argument(
        "--catalogue", type=Path, default=Path("var/train/catalogue"), help="recgpt-import output"
    )
    parser.add_argument("--var", type=Path, default=Path("var"), help="state folder (models/, adapters/)")
    parser.add_argument(
        "--model-dir", type=Path, help="base model folder (default <var>/models/<served name>)"
    )
    parser.add_argument("--adapters-dir", type=Path, help="adapters root (default <var>/adapters)")
    parser.add_argument("--steps", type=int, default=TrainSettings.steps)
    parser.add_argument("--batch-size", type=int, default=TrainSettings.batch_size)
    parser.add_argument("--grad-accum", type=int, default=TrainSettings.grad_accum)
    parser.add_argument("--lr", type=float, default=TrainSettings.learning_rate)
    parser.add_argument(
        "--rank", type=int, default=LoraSettings.rank, help="LoRA rank (<= 16, vLLM's default)"
    )
    parser.add_argument("--max-length", type=int, default=TrainSettings.max_length)
    parser.add_argument("--seed", type=int, default=TrainSettings.seed)
    parser.add_argument("--cuts", type=int, default=DataConfig.cuts_per_user, help="cut points per user")
    parser.add_argument("--max-examples", type=int, help="train on at most this many examples")
    parser.add_argument(
        "--budget-tokens",
        type=int,
        default=DataConfig.budget_tokens,
        help="behaviour budget of the prompts (serve with the agents' behaviour_budget_tokens set alike)",
    )
    parser.add_argument("--val-generate", type=int, default=TrainSettings.val_generate)
    parser.add_argument(
        "--tag-mode",
        choices=("generate", "choose"),
        default=DataConfig.tag_mode,
        help="tags: the prompt the adapter serves with (RECGPT_TAG_MODE; rank mode scores generate's)",
    )
    parser.add_argument(
        "--tag-pool",
        type=int,
        default=DataConfig.tag_pool,
        help="tags in choose mode: candidates offered (serve with RECGPT_TAG_RANK_POOL alike)",
    )
    experts = parser.add_argument_group("tag_expert: serve with the tag service's RECGPT_EXPERT_* alike")
    experts.add_argument("--expert-tags", type=int, default=DataConfig.expert_tags, help="picks asked")
    experts.add_argument("--expert-pool", type=int, default=DataConfig.expert_pool, help="pool size")
    experts.add_argument(
        "--expert-near",
        type=int,
        default=DataConfig.expert_near,
        help="categories nearest the persona's text a pool takes (0: none, no embedder)",
    )
    experts.add_argument(
        "--expert-budget-tokens",
        type=int,
        default=DataConfig.expert_budget_tokens,
        help="latest behaviour an expert reads",
    )
    experts.add_argument(
        "--persona-categories",
        type=int,
        default=DataConfig.persona_categories,
        help="the user's most frequent categories a persona rests on",
    )


def _start(value: str, job: Job) -> Path | None:
    """`latest`: the agent's newest adapter (None when it has none); `none`; or a folder.

    Refused when the adapter learnt another prompt than this job's examples use (the tag agent's modes):
    continuing or measuring it on them would mix two tasks.
    """
    if value == "none":
        return None
    folder = artefact.newest_adapter(job.adapters_root, job.agent) if value == "latest" else Path(value)
    if folder is None:
        return None
    learnt = artefact.load_manifest(folder).prompt_version
    if learnt != job.prompt_version:
        raise artefact.AdapterError(
            f"{folder} learnt prompt {learnt!r}; this run's examples use {job.prompt_version!r} "
            "(for tags, --tag-mode): name another adapter, or --from none"
        )
    return folder


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="recgpt-train", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    sft = commands.add_parser("sft", help="LoRA SFT on behaviour targets (--self-train: V1's self-training)")
    _common(sft)
    sft.add_argument("--self-train", action="store_true", help="sample, filter, train, repeat")
    sft.add_argument("--rounds", type=int, default=2)
    sft.add_argument("--prompts", type=int, default=32, help="prompts sampled per round")
    sft.add_argument("--samples", type=int, default=4, help="answers sampled per prompt")
    sft.add_argument("--temperature", type=float, default=0.9)
    sft.add_argument(
        "--from", dest="start", default="latest", help="self-training start: latest | none | DIR"
    )
    grpo = commands.add_parser("grpo", help="GRPO with constrained reward shaping (--shaping sum: GRPO-SUM)")
    _common(grpo)
    grpo.add_argument("--shaping", choices=("crs", "sum"), default="crs")
    grpo.add_argument("--generations", type=int, default=4, help="answers per prompt (the GRPO group)")
    grpo.add_argument("--temperature", type=float, default=0.9)
    grpo.add_argument("--from", dest="start", default="latest", help="start adapter: latest | none | DIR")
    heldout = _measuring(
        commands.add_parser("eval-tags", help="tag HR@K of base vs adapters on evaluation users")
    )
    heldout.add_argument("--users", type=int, default=50)
    heldout.add_argument("--k", type=int, default=30)
    heldout.add_argument(
        "--pool", type=int, default=0, help="also rank the statistics' top POOL categories by likelihood"
    )
    heldout.add_argument(
        "--rank-only", action="store_true", help="with --pool: only the likelihood ranking (no generation)"
    )
    heldout.add_argument(
        "--baselines-only", action="store_true", help="only the non-LLM baselines (no model)"
    )
    judged = _measuring(
        commands.add_parser("eval-judge", help="judge discrimination of base vs judge adapters (offline)")
    )
    judged.add_argument("--per-set", type=int, default=40, help="measured pairs per set (1..200)")
    answered = _measuring(
        commands.add_parser(
            "eval-answers", help="an agent's answers (base vs adapters) on validation users' examples"
        )
    )
    answered.add_argument("--examples", type=int, default=64, help="validation examples answered (1..)")
    return parser.parse_args(argv)


def _measuring(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The options every eval-* command shares: the models measured and where the figures go."""
    _common(parser)
    parser.add_argument(
        "--adapter", action="append", default=[], help="adapter folder, or latest (repeatable)"
    )
    parser.add_argument("--out", type=Path, help="also write the figures as JSON here")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON, not as a table")
    parser.add_argument(
        "--no-base",
        action="store_true",
        help="skip the base model (its figures on these seeded users are already known)",
    )
    return parser


def _job(args: argparse.Namespace) -> Job:
    agent = resolve(args.agent)
    for name in (
        "steps",
        "batch_size",
        "grad_accum",
        "max_length",
        "cuts",
        "rank",
        "budget_tokens",
        "tag_pool",
        "expert_tags",
        "expert_pool",
        "expert_budget_tokens",
        "persona_categories",
    ):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be at least 1")
    if args.expert_near < 0:
        raise ValueError("--expert-near must be 0 (none) or more")
    base = BaseModel.at(args.model_dir or default_model_folder(args.var))
    return Job(
        agent=agent,
        catalogue=args.catalogue,
        base=base,
        adapters_root=args.adapters_dir or args.var / "adapters",
        data_config=DataConfig(
            cuts_per_user=args.cuts,
            seed=args.seed,
            max_train_examples=args.max_examples,
            budget_tokens=args.budget_tokens,
            tag_mode=args.tag_mode,
            tag_pool=args.tag_pool,
            expert_tags=args.expert_tags,
            expert_pool=args.expert_pool,
            expert_near=args.expert_near,
            expert_budget_tokens=args.expert_budget_tokens,
            persona_categories=args.persona_categories,
        ),
        settings=TrainSettings(
            steps=args.steps,
            batch_size=args.batch_size,
            grad_accum=args.grad_accum,
            learning_rate=args.lr,
            max_length=args.max_length,
            seed=args.seed,
            lora=LoraSettings(rank=args.rank, alpha=2 * args.rank),
            val_generate=args.val_generate,
        ),
    )


def run(args: argparse.Namespace) -> Path | None:
    from agent_training import answers_eval, grpo, heldout, judge_eval, sft

    if args.command == "eval-answers":
        if args.examples < 1:
            raise ValueError("--examples must be at least 1")
        args.val_generate = args.examples
    job = _job(args)
    if args.command == "sft":
        if args.self_train:
            return sft.run_self_training(
                job,
                rounds=args.rounds,
                prompts_per_round=args.prompts,
                samples=args.samples,
                temperature=args.temperature,
                start=_start(args.start, job),
            )
        return sft.run_sft(job)
    if args.command == "grpo":
        return grpo.run_grpo(
            job,
            shaping=args.shaping,
            generations=args.generations,
            temperature=args.temperature,
            start=_start(args.start, job),
        )
    measured = {"eval-judge": JUDGE, "eval-tags": TAGS}.get(args.command, job.agent)
    if job.agent != measured:
        raise ValueError(f"{args.command} measures the {measured} agent's adapters, not {job.agent}'s")
    adapters = _adapters(args, job)
    if not adapters and not getattr(args, "baselines_only", False):
        raise ValueError("--no-base measures adapters: give --adapter")
    if args.command == "eval-judge":
        judged = judge_eval.evaluate(job, adapters, args.per_set)
        _report(judge_eval.table(judged), judged, args.out, args.json)
        return None
    if args.command == "eval-answers":
        answered = answers_eval.evaluate(job, adapters)
        _report(answers_eval.table(answered), answered, args.out, args.json)
        return None
    if args.pool < 0:
        raise ValueError("--pool must be 0 (off) or more")
    if args.rank_only and not args.pool:
        raise ValueError("--rank-only ranks a pool: give --pool N")
    if args.baselines_only:
        adapters = {}
    result = heldout.evaluate(job, adapters, args.users, args.k, args.pool, generate=not args.rank_only)
    _report(heldout.table(result), result, args.out, args.json)
    return None


def _adapters(args: argparse.Namespace, job: Job) -> dict[str, Path | None]:
    """The base model and each `--adapter`, checked against the base before any model runs."""
    adapters: dict[str, Path | None] = {} if args.no_base else {"base": None}
    for value in args.adapter:
        folder = _start(value, job)
        if folder is None:
            raise artefact.AdapterError(f"{job.agent} has no adapter under {job.adapters_root}")
        manifest = artefact.load_manifest(folder)
        # Refused before any model runs: an adapter of another base model says so at once.
        artefact.check_base(manifest, job.base.served_name, job.base.source_stamp or None)
        adapters[manifest.version] = folder
    return adapters


def _report(text: str, figures: dict[str, Any], out: Path | None, as_json: bool = False) -> None:
    print(json.dumps(figures, indent=2) if as_json else text)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(figures, indent=2) + "\n")


def _leave_process_group() -> None:
    """Under torchrun the trainer joins a process group and never leaves it: a rank that exits with gloo's
    threads still running is killed by `terminate` (exit -6) now and then, failing a finished run."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        folder = run(args)
    except (UnknownAgent, NoUsableExamples, artefact.AdapterError, FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    finally:
        _leave_process_group()
    if folder is not None:
        manifest = artefact.load_manifest(folder)
        print(f"adapter written: {folder}")
        print(f"validation: {json.dumps(manifest.validation)}")
        print(f"train seconds: {manifest.train_seconds}")
        store_url = ArtefactStoreSettings().artefact_store_url
        if store_url:
            artefact_store.adapters(store_url, manifest.agent, artefact.LATEST_FILE).publish(folder)
            print(f"published {manifest.agent}/{folder.name} to {store_url}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
