"""`make train-retrieval`: trains the towers on a dataset directory and writes a versioned artefact.

    python -m towers.train_cli data/amazon-scientific --models-dir var/models/towers --seeds 0,1,2

Under torchrun (`torchrun --nproc-per-node 2 -m towers.train_cli ...`) it trains data-parallel: gloo on the
CPU, NCCL when CUDA is present; the first process writes the artefact.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist

from recgpt_domain import artefact_store
from recgpt_domain.artefact_store import ArtefactStoreSettings
from recgpt_domain.catalogue import UserHistory
from recgpt_domain.datasets.errors import DatasetFormatError
from recgpt_domain.embedder import Embedder
from recgpt_domain.ranking_settings import RankingSettings
from recgpt_domain.towers import artefact
from recgpt_domain.towers.artefact import FusionWeights, MemberReport
from recgpt_domain.towers.learned_model import LearnedModel
from recgpt_domain.towers.model import TowerConfig
from towers import data, evaluate, ranker_training
from towers.offline_routes import Vectors
from towers.text import LazyEmbedder, embed_cached
from towers.train import Member, Process, TextInputs, TrainSettings, train_member

log = logging.getLogger("towers.train")

# Characters of a description embedded (MiniLM reads 256 word pieces at most).
DESCRIPTION_CHARS = 1000


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="towers.train_cli", description=__doc__.split("\n")[0])
    parser.add_argument("dataset", type=Path, help="dataset directory in a published format")
    parser.add_argument("--models-dir", type=Path, default=Path("var/models/towers"))
    parser.add_argument(
        "--cache-dir", type=Path, default=None, help="text vectors cache (default: models dir)"
    )
    parser.add_argument("--seeds", default="0", help="comma-separated seeds: one ensemble member each")
    for name, field in TowerConfig.model_fields.items():
        if name != "text_dim":
            parser.add_argument(
                f"--{name.replace('_', '-')}", type=type(field.default), default=field.default
            )
    for name, field in TrainSettings.model_fields.items():
        parser.add_argument(f"--{name.replace('_', '-')}", type=type(field.default), default=field.default)
    parser.add_argument("--threads", type=int, default=0, help="torch threads per process (0: torch decides)")
    parser.add_argument("--no-fusion", action="store_true", help="skip choosing fusion weights (smoke runs)")
    return parser


def _process() -> Process:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Process()
    backend = "nccl" if torch.cuda.is_available() else "gloo"
    dist.init_process_group(backend)
    return Process(rank=dist.get_rank(), world=dist.get_world_size())


def text_inputs(training: data.TrainingData, embedder: Embedder, cache: Path | None) -> TextInputs:
    items = training.items
    vectors = [
        embed_cached(embedder, [item.embedding_text() for item in items], cache),
        embed_cached(embedder, [item.description[:DESCRIPTION_CHARS] for item in items], cache),
        embed_cached(embedder, training.tags, cache),
        embed_cached(embedder, training.categories, cache),
    ]
    return TextInputs(*(torch.from_numpy(vector) for vector in vectors))


def _ensemble_model(members: list[Member], config: TowerConfig) -> LearnedModel:
    """The members as serving will load them (without a round trip through disk)."""
    return LearnedModel(
        config,
        np.concatenate([m.item_vectors for m in members], axis=1),
        {"members": [{"user": m.user_state, "tag": m.tag_state} for m in members]},
        version="unsaved",
    )


def without_validation_targets(
    training: data.TrainingData, histories: list[UserHistory]
) -> list[UserHistory]:
    """The log co-occurrence and popularity are counted on when choosing weights: `route_context` holds out
    every user's last interaction, and here validation users lose their target (the second-to-last) too,
    or co-occurrence would have counted the very pair it is asked to predict."""
    validation = {example.user_id for example in training.validation}
    return [
        UserHistory(user_id=history.user_id, interactions=history.interactions[:-1])
        if history.user_id in validation
        else history
        for history in histories
    ]


def choose_fusion(
    training: data.TrainingData,
    histories: list[UserHistory],
    model: LearnedModel,
    text: TextInputs,
    embedder: Embedder,
    cache: Path | None,
    folds: int,
    with_ranker: bool = True,
) -> tuple[dict[str, float], FusionWeights]:
    """Ensemble validation figures, the fusion weights cross-fitted over folds of the validation slice, and
    the ranker over the routes' candidates where it beats them there (`towers.ranker_training`)."""
    settings = RankingSettings()
    content: Vectors = text.item_text.numpy()
    context = evaluate.route_context(
        training.items, without_validation_targets(training, histories), content, settings
    )
    item_category = [item.category for item in training.items]
    names = sorted(set(item_category))
    category_vectors = dict(zip(names, embed_cached(embedder, names, cache), strict=True))
    cases = [evaluate.Case(e.user_id, e.history, e.target) for e in training.validation]
    runner = evaluate.RouteRunner(context, model, item_category, category_vectors, settings)
    lists = runner.base_routes(cases)
    chosen = evaluate.choose_weights(lists, cases, folds)
    ensemble = evaluate.metrics(lists.rows(evaluate.LEARNED), cases)
    weights = chosen.weights
    ranker = None
    if with_ranker:
        # Every other training user's last interaction: out of the towers' sequences and of the log.
        validation = {case.user_id for case in cases}
        row_of = {item.item_id: row for row, item in enumerate(training.items)}
        trained_on, _ = evaluate.cases([h for h in histories if h.user_id not in validation], row_of)
        ranker = ranker_training.train(runner, trained_on, lists, cases, weights, folds)
    return ensemble, FusionWeights(
        beta=weights.beta,
        collaborative_weight=weights.collaborative,
        content_weight=weights.content,
        cooccurrence_weight=weights.cooccurrence,
        validation=chosen.report,
        folds=chosen.folds,
        spread=chosen.spread,
        ranker=ranker,
    )


def run(args: argparse.Namespace, embedder: Embedder | None = None) -> Path | None:
    process = _process()
    if args.threads:
        torch.set_num_threads(args.threads)
    config = TowerConfig(
        **{name: getattr(args, name) for name in TowerConfig.model_fields if name != "text_dim"}
    )
    settings = TrainSettings(**{name: getattr(args, name) for name in TrainSettings.model_fields})
    seeds = [int(seed) for seed in str(args.seeds).split(",") if seed.strip()]
    started = time.monotonic()
    items, histories, fingerprint = data.read_dataset(args.dataset)
    training = data.build(args.dataset, settings.validation_share)
    cache = args.cache_dir or args.models_dir / ".text-cache"
    embedder = embedder or LazyEmbedder()
    if process.world > 1 and not process.leader:
        dist.barrier()  # the leader embeds and caches first
    text = text_inputs(training, embedder, cache)
    if process.world > 1 and process.leader:
        dist.barrier()
    config = config.model_copy(update={"text_dim": int(text.item_text.shape[1])})
    log.info(
        "training on %d sequences (%d validation users, %d users too short), %d items, %s softmax",
        len(training.sequences),
        len(training.validation),
        training.skipped_users,
        len(items),
        f"sampled ({settings.negatives} negatives)" if settings.sampled(len(items)) else "full",
    )
    members = [train_member(training, text, config, settings, seed, process) for seed in seeds]
    if not process.leader:
        dist.destroy_process_group()
        return None
    model = _ensemble_model(members, config)
    if args.no_fusion or not training.validation:
        ensemble = members[0].validation if len(members) == 1 else {}
        fusion = None
    else:
        ensemble, fusion = choose_fusion(
            training, histories, model, text, embedder, cache, settings.fusion_folds, settings.ranker == "on"
        )
    folder = artefact.write(
        args.models_dir,
        {
            "version": artefact.new_version(),
            "created_at_unix": int(time.time()),
            "dataset": args.dataset.resolve().name,
            "dataset_dir": str(args.dataset),
            "data_fingerprint": fingerprint,
            "text_model": embedder.model_name,
            "config": config,
            "training": {**settings.model_dump(), "seeds": seeds, "processes": process.world},
            "members": [
                MemberReport(
                    seed=m.seed,
                    epoch=m.epoch,
                    epochs_run=m.epochs_run,
                    seconds=m.seconds,
                    validation=m.validation,
                )
                for m in members
            ],
            "validation": ensemble,
            "validation_users": len(training.validation),
            "trained_users": len(training.sequences),
            "skipped_users": training.skipped_users,
            "training_seconds": time.monotonic() - started,
            "fusion": fusion,
        },
        training.item_ids,
        model.item_vectors,
        {"members": [{"user": m.user_state, "tag": m.tag_state} for m in members]},
    )
    if process.world > 1:
        dist.destroy_process_group()
    return folder


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    try:
        folder = run(args)
    except (data.TrainingDataError, DatasetFormatError) as error:
        print(f"towers: {error}", file=sys.stderr)
        sys.exit(2)
    if folder is not None:
        print(summary(folder, artefact.read_manifest(folder)))
        store_url = ArtefactStoreSettings().artefact_store_url
        if store_url:
            artefact_store.towers(store_url, artefact.LATEST_FILE).publish(folder)
            print(f"published {folder.name} to {store_url}")


def summary(folder: Path, manifest: artefact.ArtefactManifest) -> str:
    """What the run chose, for the terminal: validation figures, the fusion weights and their spread."""
    figures = " ".join(f"{name} {value:.4f}" for name, value in sorted(manifest.validation.items()))
    lines = [
        f"artefact {folder} ({manifest.training_seconds / 60:.1f} min, {len(manifest.members)} members)",
        f"validation ({manifest.validation_users} users, learned route): {figures}",
    ]
    fusion = manifest.fusion
    if fusion is not None:
        lines.append(
            f"fusion: baseline = learned {fusion.collaborative_weight:.1f} + co-occurrence "
            f"{fusion.cooccurrence_weight:.1f} + content {fusion.content_weight:.1f}; "
            f"recgpt-v1 = {fusion.beta:.2f} x baseline + {1 - fusion.beta:.2f} x tag route"
        )
        if fusion.ranker is not None:
            ranked, weighted = fusion.ranker.validation["ranked"], fusion.ranker.validation["weighted"]
            lines.append(
                f"served: the ranker ({len(fusion.ranker.trees.feature)} trees, trained on "
                f"{fusion.ranker.trained_users} users): validation R@10 {ranked['recall@10']:.4f} "
                f"R@50 {ranked['recall@50']:.4f} against the weighting's "
                f"{weighted['recall@10']:.4f} / {weighted['recall@50']:.4f}; "
                f"recgpt-v1 = {fusion.ranker.beta:.2f} x ranked + {1 - fusion.ranker.beta:.2f} x tag route"
            )
        for name, spread in fusion.spread.items():
            held_out = f", held out {np.mean(spread.held_out):.4f}" if spread.held_out else ""
            lines.append(
                f"  {name} over {fusion.folds} folds: R@10+R@50 {spread.mean:.4f} ± {spread.std:.4f}"
                f"{held_out}; each fold's own choice: {', '.join(spread.held_out_choices) or '-'}"
            )
            if spread.gain is not None:
                picked = spread.not_significant or spread.choice
                verdict = "significant"
                if spread.not_significant:
                    verdict = f"not significant, {spread.choice} kept"
                lines.append(
                    f"  {name}: {picked} gains {spread.gain:.4f} ± {spread.gain_standard_error or 0:.4f} "
                    f"(R@10+R@50 per user) over the baseline alone: {verdict}"
                )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
