"""Figures over K random user splits: train on the seen users, evaluate every route on the unseen ones.

One split's figures move by a few points of recall with the users drawn (a few hundred unseen users, one
target each), so a route is reported as the mean and standard deviation over splits, each split's seed and
figures kept beside them. Training per split is the expensive part: its budget (epochs, patience, seeds,
threads) is the training command's own options, passed through unchanged.
"""

from __future__ import annotations

import argparse
import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from recgpt_domain.embedder import Embedder
from towers import split_users, train_cli

log = logging.getLogger("towers.split_eval")

# Evaluates one unseen folder against one artefact: eval_cli.run bound to its options.
Evaluate = Callable[[Path, Path], dict[str, Any]]


def train_split(
    seen: Path, models_dir: Path, cache_dir: Path, train_argv: Sequence[str], embedder: Embedder
) -> Path:
    """Trains on one split's seen users with the training command's own options; returns the artefact."""
    args = train_cli.build_parser().parse_args(
        [str(seen), "--models-dir", str(models_dir), "--cache-dir", str(cache_dir), *train_argv]
    )
    folder = train_cli.run(args, embedder)
    if folder is None:
        raise RuntimeError("training returned no artefact (not the leading process)")
    return folder


def summarise(per_split: Sequence[dict[str, dict[str, float]]]) -> dict[str, dict[str, dict[str, float]]]:
    """Mean and (population) standard deviation of each route's metrics over the splits that have it."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    routes = dict.fromkeys(route for routes in per_split for route in routes)
    for route in routes:
        rows = [routes[route] for routes in per_split if route in routes]
        out[route] = {
            metric: {
                "mean": float(np.mean([row[metric] for row in rows])),
                "std": float(np.std([row[metric] for row in rows])),
            }
            for metric in rows[0]
        }
    return out


def run_splits(
    dataset: Path,
    splits: int,
    share: float,
    work_dir: Path,
    cache_dir: Path,
    train_argv: Sequence[str],
    embedder: Embedder,
    evaluate: Evaluate,
    first_seed: int = 1,
) -> dict[str, Any]:
    """Seeds first_seed..first_seed+K-1 (seed 0 is the fixed split used before seeds), each trained and
    evaluated; a later run with the next seeds adds splits to an earlier one."""
    started = time.monotonic()
    results: list[dict[str, Any]] = []
    for seed in range(first_seed, first_seed + splits):
        folder = work_dir / f"split-{seed}"
        seen, unseen = folder / "seen", folder / "unseen"
        seen_users, unseen_users = split_users.split(dataset, share, seen, unseen, seed)
        log.info("split %d: %d seen users, %d unseen", seed, seen_users, unseen_users)
        split_started = time.monotonic()
        artefact_folder = train_split(seen, folder / "models", cache_dir, train_argv, embedder)
        report = evaluate(unseen, artefact_folder)
        results.append(
            {
                "seed": seed,
                "seen_users": seen_users,
                "unseen_users": unseen_users,
                **report,
                "split_seconds": time.monotonic() - split_started,
            }
        )
    return {
        "dataset": str(dataset),
        "splits": splits,
        "unseen_share": share,
        "training_options": list(train_argv),
        "routes": summarise([result["routes"] for result in results]),
        "per_split": results,
        "seconds": time.monotonic() - started,
    }


def table(report: dict[str, Any]) -> str:
    splits = report["per_split"]
    evaluated = [split["users"]["evaluated"] for split in splits]
    lines = [
        f"{report['dataset']}: {report['splits']} splits (seeds {[s['seed'] for s in splits]}), "
        f"{min(evaluated)}-{max(evaluated)} unseen users evaluated each; mean ± std over splits",
        f"{'route':32} {'recall@10':>17} {'ndcg@10':>17} {'recall@50':>17} {'ndcg@50':>17}",
    ]
    for route, figures in report["routes"].items():
        cells = " ".join(
            f"{figures[m]['mean']:>8.4f} ± {figures[m]['std']:.4f}"
            for m in ("recall@10", "ndcg@10", "recall@50", "ndcg@50")
        )
        lines.append(f"{route:32} {cells}")
    for split in splits:
        weights = split.get("fusion_weights") or {}
        ranker = f"; served {split.get('served_route')}"
        if split.get("ranker_beta") is not None:
            ranker += f", recgpt-v1 beta over it {split['ranker_beta']:.2f}"
        lines.append(
            f"split {split['seed']}: artefact {split['artefact']}, weights "
            + ", ".join(f"{name} {value:.2f}" for name, value in weights.items())
            + ranker
        )
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--splits",
        type=int,
        default=5,
        help="random user splits to train and evaluate (0: evaluate the given artefact on every user); "
        "options eval_cli does not know go to towers.train_cli for each split",
    )
    parser.add_argument("--first-split", type=int, default=1, help="seed of the first split (then +1 each)")
    parser.add_argument("--unseen-share", type=float, default=0.2, help="users held out of each split")
    parser.add_argument(
        "--work-dir",
        type=Path,
        default=None,
        help="splits and their artefacts (default: beside --models-dir)",
    )
