"""`make eval-retrieval`: every route's Recall/NDCG@10/@50 on unseen users of a dataset directory, no LLM.

    python -m towers.eval_cli DIR --splits 5 [training options] --out eval.json
    python -m towers.eval_cli DIR --splits 0 --models-dir var/models/towers --out eval.json

With `--splits K` (the default, 5) the users are split K times at random; each split trains on its seen users
(options this command does not know go to `towers.train_cli`) and is evaluated on its unseen ones, and every
route is reported as mean ± std over the splits (`towers.split_eval`). With `--splits 0` the given artefact is
evaluated on every user of DIR.

Each user's last interaction is the target and the rest the history (users with one interaction are
counted and left out). The learned route is named `learned`; co-occurrence (`collaborative`) and popularity
read the log the model was trained on (`--served`, by default the artefact's own dataset) with each user's
last interaction held out. Without an artefact the learned routes are left out and the JSON says why.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from recgpt_domain.datasets.errors import DatasetFormatError
from recgpt_domain.embedder import Embedder
from recgpt_domain.ranking_settings import RankingSettings
from recgpt_domain.towers import artefact
from recgpt_domain.towers import ranker as towers_ranker
from recgpt_domain.towers.artefact import ArtefactError
from recgpt_domain.towers.learned_model import LearnedModel
from towers import data, evaluate, ranker_training, split_eval
from towers.text import LazyEmbedder, embed_cached

log = logging.getLogger("towers.eval")


def build_parser() -> argparse.ArgumentParser:
    # No abbreviations: options this parser does not know go to the training command whole.
    parser = argparse.ArgumentParser(
        prog="towers.eval_cli", description=__doc__.split("\n")[0], allow_abbrev=False
    )
    parser.add_argument("dataset", type=Path, help="users to evaluate (published format, same catalogue)")
    parser.add_argument("--models-dir", type=Path, default=Path("var/models/towers"))
    parser.add_argument("--artefact", type=Path, default=None, help="an artefact folder (default: LATEST)")
    parser.add_argument("--served", type=Path, default=None, help="the served log (default: the artefact's)")
    parser.add_argument("--cache-dir", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=None)
    split_eval.add_arguments(parser)
    return parser


def _load_model(args: argparse.Namespace, item_ids: list[str]) -> tuple[LearnedModel | None, str, str]:
    """The model, why there is none, and the dataset directory it was trained on."""
    folder = args.artefact or artefact.latest(args.models_dir)
    if folder is None:
        return None, f"no artefact in {args.models_dir}", ""
    loaded = artefact.load(folder, item_ids)
    return LearnedModel.from_artefact(loaded), "", loaded.manifest.dataset_dir


def run(args: argparse.Namespace, embedder: Embedder | None = None) -> dict[str, Any]:
    started = time.monotonic()
    settings = RankingSettings()
    items, histories, fingerprint = data.read_dataset(args.dataset)
    item_ids = [item.item_id for item in items]
    model, missing, trained_on = _load_model(args, item_ids)
    served_dir = args.served or (Path(trained_on) if trained_on else args.dataset)
    served_items, served_histories, _ = data.read_dataset(served_dir)
    if [item.item_id for item in served_items] != item_ids:
        raise ArtefactError(f"{served_dir} and {args.dataset} do not share one catalogue")
    cache = args.cache_dir or args.models_dir / ".text-cache"
    embedder = embedder or LazyEmbedder()
    content = embed_cached(embedder, [item.embedding_text() for item in items], cache)
    item_category = [item.category for item in items]
    names = sorted(set(item_category))
    category_vectors = dict(zip(names, embed_cached(embedder, names, cache), strict=True))
    context = evaluate.route_context(items, served_histories, content, settings)
    row_of = {item_id: row for row, item_id in enumerate(item_ids)}
    case_list, counts = evaluate.cases(histories, row_of)
    runner = evaluate.RouteRunner(context, model, item_category, category_vectors, settings)
    routed = time.monotonic()
    lists = runner.base_routes(case_list)
    weights = None
    if model is not None and model.fusion is not None:
        fusion = model.fusion
        weights = evaluate.Weights(
            fusion.collaborative_weight, fusion.content_weight, fusion.beta, fusion.cooccurrence_weight
        )
    evaluate.fused_routes(lists, case_list, settings, weights)
    ranker = model.fusion.ranker if model is not None and model.fusion is not None else None
    if ranker is not None and weights is not None:
        vectors = model.item_vectors if model is not None else None
        catalogue = ranker_training.catalogue_context(
            context.popularity, towers_ranker.category_ids(item_category), vectors
        )
        ranker_training.add_ranked_routes(lists, case_list, ranker, weights, catalogue)
    routes = {route: evaluate.metrics(lists.rows(route), case_list) for route in lists.lists}
    exclusive: dict[str, float] = {}
    for tag_route in (evaluate.TAG_MINILM, evaluate.TAG_TOWER):
        for other in (evaluate.LEARNED, evaluate.COLLABORATIVE):
            if tag_route in lists.lists and other in lists.lists:
                for k in (10, 50):
                    exclusive[f"{tag_route}_over_{other}@{k}"] = evaluate.exclusive_recall(
                        lists.rows(tag_route), lists.rows(other), case_list, k
                    )
    return {
        "dataset": str(args.dataset),
        "data_fingerprint": fingerprint,
        "served": str(served_dir),
        "artefact": model.version if model else None,
        "learned_missing": missing or None,
        "users": asdict(counts),
        "routes": routes,
        "exclusive_recall": exclusive,
        "fusion_weights": asdict(weights) if weights else None,
        # What retrieval serves with this artefact: the ranker where it has one, else the weighted fusion.
        "served_route": (
            evaluate.RANKED
            if ranker is not None
            else evaluate.FUSED_BASELINE_LEARNED
            if weights is not None
            else evaluate.FUSED_BASELINE
        ),
        "ranker_beta": ranker.beta if ranker is not None else None,
        "fusion_spread": (
            {name: spread.model_dump() for name, spread in model.fusion.spread.items()}
            if model is not None and model.fusion is not None
            else None
        ),
        "ranking": {
            "recent_items": settings.recent_items,
            "tags": settings.tag_route_max_tags,
            "per_tag_k": settings.tag_route_per_tag_k,
            "baseline_weights": [settings.collaborative_weight, settings.content_weight],
            "recgpt_v1_beta": settings.recgpt_v1_beta,
        },
        "seconds": {"total": time.monotonic() - started, "routes": time.monotonic() - routed},
    }


def table(report: dict[str, Any]) -> str:
    users = report["users"]
    lines = [
        f"{report['dataset']}: {users['evaluated']} users evaluated of {users['users']} "
        f"({users['too_short']} too short, {users['unknown_target']} with an unknown target); "
        f"artefact {report['artefact'] or '(none: ' + str(report['learned_missing']) + ')'}",
        f"{'route':32} {'recall@10':>10} {'ndcg@10':>10} {'recall@50':>10} {'ndcg@50':>10}",
    ]
    for route, figures in report["routes"].items():
        lines.append(
            f"{route:32} {figures['recall@10']:>10.4f} {figures['ndcg@10']:>10.4f} "
            f"{figures['recall@50']:>10.4f} {figures['ndcg@50']:>10.4f}"
        )
    lines += [f"exclusive recall {name}: {value:.4f}" for name, value in report["exclusive_recall"].items()]
    lines.append(f"served with this artefact: {report['served_route']}")
    return "\n".join(lines)


def run_splits(
    args: argparse.Namespace, train_argv: list[str], embedder: Embedder | None = None
) -> dict[str, Any]:
    """`--splits K`: K user splits, each trained with `train_argv` and evaluated on its unseen users."""
    embedder = embedder or LazyEmbedder()
    cache = args.cache_dir or args.models_dir / ".text-cache"
    work_dir = args.work_dir or args.models_dir.parent / f"{args.models_dir.name}-splits" / args.dataset.name

    def evaluate_split(unseen: Path, folder: Path) -> dict[str, Any]:
        split_args = argparse.Namespace(
            **{**vars(args), "dataset": unseen, "artefact": folder, "served": None}
        )
        return run(split_args, embedder)

    return split_eval.run_splits(
        args.dataset,
        args.splits,
        args.unseen_share,
        work_dir,
        cache,
        train_argv,
        embedder,
        evaluate_split,
        args.first_split,
    )


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    parser = build_parser()
    args, train_argv = parser.parse_known_args(argv)
    if args.splits <= 0 and train_argv:
        parser.error(f"unrecognized arguments: {' '.join(train_argv)} (training options need --splits K)")
    try:
        report = run_splits(args, train_argv) if args.splits > 0 else run(args)
    except (ArtefactError, DatasetFormatError, data.TrainingDataError) as error:
        print(f"towers: {error}", file=sys.stderr)
        sys.exit(2)
    print(split_eval.table(report) if args.splits > 0 else table(report))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
