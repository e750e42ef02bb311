"""How fast and how faithful each embedding backend is: `python -m retrieval.bench_embedding --catalogue DIR`.

Not a test: it embeds every item text of a catalogue with each backend and prints texts per second (wall
and per CPU-second: the machine may be shared), the cosine of each vector to torch's fp32 one, and what the
retrieval routes find with each backend's vectors: Recall@10/50 of each sampled user's last item by the
content route (the normalised mean of the five items before it, seen items excluded) and how much of
torch's top 50 each backend returns, for those users and for short tag-like queries (the leaf categories).
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import get_args

import numpy as np
import numpy.typing as npt

from recgpt_domain.catalogue import iter_histories, read_items
from recgpt_domain.embedder import Embedder, Vectors
from recgpt_serving.embedding.runtime import EmbedderSettings, EmbeddingBackend, load_bundled

SEEDS = 5
TOP_K = 50
REFERENCE: EmbeddingBackend = "torch"


@dataclass
class Run:
    backend: str
    load_s: float
    wall_s: float
    cpu_s: float
    items: Vectors
    tags: Vectors

    def row(self, texts: int) -> str:
        return (
            f"{self.backend:<10} load {self.load_s:5.1f} s   {texts} items in {self.wall_s:6.1f} s wall "
            f"= {texts / self.wall_s:6.1f} texts/s   {self.cpu_s:6.1f} CPU-s "
            f"= {texts / self.cpu_s:6.1f} per CPU-s"
        )


@dataclass(frozen=True)
class Probe:
    """The content route's queries: each sampled user's last item and the items before it."""

    seeds: list[list[int]]
    seen: list[list[int]]
    targets: list[int]


def timed_encode(embedder: Embedder, texts: Sequence[str]) -> tuple[Vectors, float, float]:
    embedder.encode(texts[:32])  # first calls compile kernels and fill caches
    cpu, wall = time.process_time(), time.perf_counter()
    vectors = embedder.encode(texts)
    return vectors, time.perf_counter() - wall, time.process_time() - cpu


def run_backend(
    backend: EmbeddingBackend, models_dir: Path, batch_size: int, texts: Sequence[str], tags: Sequence[str]
) -> Run:
    started = time.perf_counter()
    embedder = load_bundled(batch_size, "cpu", EmbedderSettings(backend=backend, models_dir=models_dir))
    load_s = time.perf_counter() - started
    items, wall_s, cpu_s = timed_encode(embedder, texts)
    return Run(backend, load_s, wall_s, cpu_s, items, embedder.encode(tags))


def probe(catalogue: Path, row_of: dict[str, int], users: int, seed: int) -> Probe:
    histories = [
        [row_of[i.item_id] for i in history.interactions if i.item_id in row_of]
        for history in iter_histories(catalogue)
    ]
    usable = [rows for rows in histories if len(rows) >= 2]
    chosen = random.Random(seed).sample(usable, min(users, len(usable)))
    return Probe(
        seeds=[rows[:-1][-SEEDS:] for rows in chosen],
        seen=[rows[:-1] for rows in chosen],
        targets=[rows[-1] for rows in chosen],
    )


def top(scores: npt.NDArray[np.float32], k: int) -> npt.NDArray[np.int64]:
    best = np.argpartition(-scores, k, axis=1)[:, :k]
    order = np.take_along_axis(scores, best, axis=1).argsort(axis=1)[:, ::-1]
    return np.take_along_axis(best, order, axis=1)


def content_route(items: Vectors, queries: Probe) -> npt.NDArray[np.int64]:
    means = np.stack([items[seeds].mean(axis=0) for seeds in queries.seeds])
    means /= np.linalg.norm(means, axis=1, keepdims=True)
    scores = means @ items.T
    for line, seen in enumerate(queries.seen):
        scores[line, seen] = -np.inf
    return top(scores, TOP_K)


def recall(ranked: npt.NDArray[np.int64], targets: Sequence[int], k: int) -> float:
    return float(np.mean([target in row[:k] for row, target in zip(ranked, targets, strict=True)]))


def overlap(ranked: npt.NDArray[np.int64], reference: npt.NDArray[np.int64]) -> float:
    shared = [len(set(a) & set(b)) / len(b) for a, b in zip(ranked, reference, strict=True)]
    return float(np.mean(shared))


def report(runs: list[Run], queries: Probe, texts: int) -> None:
    print("\nthroughput (every item text, one pass after a warm-up)")
    for run in runs:
        print("  " + run.row(texts))
    reference = next(run for run in runs if run.backend == REFERENCE)
    ref_content = content_route(reference.items, queries)
    ref_tags = top(reference.tags @ reference.items.T, TOP_K)
    print(
        f"\nagreement with {REFERENCE} fp32, and the routes ({len(queries.targets)} users, {TOP_K} results)"
    )
    for run in runs:
        cosine = (run.items * reference.items).sum(axis=1)
        content = content_route(run.items, queries)
        tags = top(run.tags @ run.items.T, TOP_K)
        print(
            f"  {run.backend:<10} cosine mean {cosine.mean():.5f} min {cosine.min():.5f}   "
            f"content Recall@10 {recall(content, queries.targets, 10):.3f} "
            f"@50 {recall(content, queries.targets, TOP_K):.3f}   "
            f"top-{TOP_K} overlap: content {overlap(content, ref_content):.3f} "
            f"tag-like {overlap(tags, ref_tags):.3f}"
        )
    fastest = min(runs, key=lambda run: run.wall_s)
    speed_up = reference.wall_s / fastest.wall_s
    print(f"\n{fastest.backend} embeds the catalogue {speed_up:.1f}x as fast as {REFERENCE}")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m retrieval.bench_embedding", description=__doc__)
    parser.add_argument(
        "--catalogue", type=Path, required=True, help="catalogue folder (recgpt-import --out)"
    )
    parser.add_argument("--backends", default=",".join(get_args(EmbeddingBackend)), help="comma-separated")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--users", type=int, default=2000, help="users sampled for the content route")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--models-dir", type=Path, help="converted models (default: a temporary folder, conversion timed)"
    )
    args = parser.parse_args(argv)
    backends = [name.strip() for name in args.backends.split(",") if name.strip()]
    unknown = set(backends) - set(get_args(EmbeddingBackend))
    if unknown or REFERENCE not in backends:
        parser.error(f"--backends: choose among {get_args(EmbeddingBackend)}, {REFERENCE} included")
    items = read_items(args.catalogue)
    texts = [item.embedding_text() for item in items]
    tags = sorted({item.category_path[-1] for item in items if item.category_path})
    queries = probe(
        args.catalogue, {item.item_id: row for row, item in enumerate(items)}, args.users, args.seed
    )
    load = os.getloadavg()[0]
    print(f"{len(texts)} item texts, {len(tags)} tag-like queries, {os.cpu_count()} CPUs, load {load:.1f}")
    with tempfile.TemporaryDirectory(prefix="recgpt-bench-") as scratch:
        models_dir = args.models_dir or Path(scratch)
        runs = [run_backend(name, models_dir, args.batch_size, texts, tags) for name in backends]
    report(runs, queries, len(texts))


if __name__ == "__main__":
    main()
