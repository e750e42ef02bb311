"""Exact flat search against the approximate index on a synthetic catalogue:
`python -m retrieval.bench_index --items 1000000`.

Not a test. It builds each index type as the builder does (`index_plan`: IVF trained on a sample, its
nprobe calibrated to the target recall), then prints, per type, recall@50 against exact search, the p50
and p99 of one query's search through `VectorSearcher` (one FAISS thread, as the service runs), the build
time and the memory the index takes; the same with a filter that lets a random 10% of the items through;
then one JSON line.

The vectors are a clustered Gaussian mixture, not uniform noise: in uniform noise every point is about as
far from every other, so no index can beat a full scan and recall says nothing about real catalogues.
Items here sit in a hierarchy (a direction all items share, 32 top categories, subcategories of about 40
items, product families of about 8), each level an equal share of the variance; with these shares the
neighbours of an item are about as close as in the demo catalogue's MiniLM embeddings (cosine to the 1st,
10th and 50th neighbour 0.81, 0.67, 0.53 here against 0.81, 0.63, 0.50 there). IVF finds these clusters
easier than real text (at the demo catalogue's 4,385 items, 8 of 264 lists hold 0.96-0.98 of the top 50
here, 0.84 there), which is why the builder calibrates nprobe on the catalogue's own vectors instead of
taking it from here. Queries are held-out items of the same mixture.
"""

from __future__ import annotations

import argparse
import os
import resource
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast, get_args

import faiss
import numpy as np
import numpy.typing as npt

from recgpt_serving.benchmarks import emit
from retrieval.filters import Mask
from retrieval.index_plan import (
    RECALL_K,
    calibrate,
    default_nlist,
    make_faiss_index,
    recall_at,
    resolve_type,
    search_knobs,
)
from retrieval.index_store import SearchTuning
from retrieval.settings import IndexType
from retrieval.vector_search import VectorSearcher

# What the service embeds with (all-MiniLM-L6-v2).
DIMENSION = 384
# Shares of each vector's variance: shared direction, top category, subcategory, family, the item itself.
_SHARES = (0.2, 0.2, 0.2, 0.2, 0.2)
_TOP_CATEGORIES = 32
_SUBCATEGORY_ITEMS = 40
_FAMILY_ITEMS = 8
# Share of the items the filtered searches allow.
FILTER_SHARE = 0.1
_CHUNK = 100_000

Vectors = npt.NDArray[np.float32]


def _units(rng: np.random.Generator, count: int, dimension: int) -> Vectors:
    rows = rng.standard_normal((count, dimension), dtype=np.float32)
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    return rows


def clustered_vectors(count: int, dimension: int = DIMENSION, seed: int = 0) -> Vectors:
    """`count` unit vectors from the hierarchical mixture described above; the last rows make good queries."""
    rng = np.random.default_rng(seed)
    shared, top, sub, family, own = (np.float32(np.sqrt(share)) for share in _SHARES)
    families = max(1, count // _FAMILY_ITEMS)
    subcategories = max(1, count // _SUBCATEGORY_ITEMS)
    # Subcategories vary in size, as shop categories do: log-normal popularity.
    weights = rng.lognormal(0.0, 1.0, subcategories)
    family_sub = rng.choice(subcategories, size=families, p=weights / weights.sum())
    sub_top = rng.integers(0, _TOP_CATEGORIES, subcategories)
    family_centre = (
        shared * _units(rng, 1, dimension)
        + top * _units(rng, _TOP_CATEGORIES, dimension)[sub_top[family_sub]]
        + sub * _units(rng, subcategories, dimension)[family_sub]
        + family * _units(rng, families, dimension)
    )
    item_family = rng.integers(0, families, count)
    vectors = np.empty((count, dimension), dtype=np.float32)
    for start in range(0, count, _CHUNK):
        end = min(count, start + _CHUNK)
        chunk = family_centre[item_family[start:end]] + own * _units(rng, end - start, dimension)
        vectors[start:end] = chunk / np.linalg.norm(chunk, axis=1, keepdims=True)
    return vectors


def resident_bytes() -> int:
    """This process's resident memory now (Linux), 0 where /proc is missing."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return 0
    return pages * resource.getpagesize()


@dataclass(frozen=True)
class Measured:
    answers: list[set[int]]
    p50_ms: float
    p99_ms: float


def measure(searcher: VectorSearcher, queries: Vectors, allowed: Mask | None) -> Measured:
    """One search per query on one FAISS thread (what a single-vector request costs the service), timed."""
    faiss.omp_set_num_threads(1)
    found, seconds = [], []
    try:
        for row in range(len(queries)):
            started = time.perf_counter()
            hits = searcher.search(queries[row : row + 1], RECALL_K, allowed)
            seconds.append(time.perf_counter() - started)
            found.append(set(hits.rows.tolist()))
    finally:
        faiss.omp_set_num_threads(os.cpu_count() or 1)
    p50, p99 = np.percentile(np.asarray(seconds) * 1000, [50, 99])
    return Measured(found, round(float(p50), 3), round(float(p99), 3))


def exact_answers(vectors: Vectors, queries: Vectors, allowed: Mask | None) -> list[set[int]]:
    """The true top 50 of each query (among the allowed rows), by brute force."""
    rows = np.arange(len(vectors)) if allowed is None else np.flatnonzero(allowed)
    _, found = faiss.knn(queries, np.ascontiguousarray(vectors[rows]), RECALL_K, faiss.METRIC_INNER_PRODUCT)
    return [set(rows[hits].tolist()) for hits in found]


def bench_type(
    index_type: IndexType,
    vectors: Vectors,
    queries: Vectors,
    truth: tuple[list[set[int]], list[set[int]]],
    allowed: Mask,
    target: float,
    nlist: int = 0,
) -> dict[str, Any]:
    """Builds one index type as the builder does, then measures it unfiltered and filtered."""
    params = {"ivf": {"nlist": nlist or default_nlist(len(vectors))}, "hnsw": {"m": 32}}.get(index_type, {})
    before = resident_bytes()
    started = time.perf_counter()
    index = make_faiss_index(vectors, index_type, params)
    built = time.perf_counter() - started
    # The allocator may hand back more than the build took (pages freed by an earlier type),
    # so a shrink reads as no growth rather than a negative size.
    memory = max(0, resident_bytes() - before)
    started = time.perf_counter()
    tuning = calibrate(index, index_type, params, vectors, target)
    calibrated = time.perf_counter() - started
    nprobe, ef_search = search_knobs(tuning, 0, 0)
    searcher = VectorSearcher(index, vectors, index_type, device="cpu", nprobe=nprobe, ef_search=ef_search)
    result: dict[str, Any] = {
        "params": params,
        **_knobs(tuning),
        "build_s": round(built, 2),
        "calibrate_s": round(calibrated, 2),
        # What the index holds (its serialised size) and what building it added to the process.
        "index_mb": round(faiss.serialize_index(index).nbytes / 2**20, 1),
        "rss_mb": round(memory / 2**20, 1),
    }
    for name, mask, expected in (("all", None, truth[0]), ("filtered", allowed, truth[1])):
        measured = measure(searcher, queries, mask)
        result[name] = {
            f"recall_at_{RECALL_K}": round(recall_at(expected, measured.answers, RECALL_K), 4),
            "p50_ms": measured.p50_ms,
            "p99_ms": measured.p99_ms,
        }
    return result


def _knobs(tuning: SearchTuning) -> dict[str, Any]:
    knobs = {"nprobe": tuning.nprobe, "ef_search": tuning.ef_search}
    return {
        **{name: value for name, value in knobs.items() if value},
        "calibration_recall": round(tuning.recall, 4),
    }


def report_line(index_type: str, figures: dict[str, Any]) -> str:
    knobs = ", ".join(f"{key} {figures[key]}" for key in ("nprobe", "ef_search") if key in figures)
    lines = [
        f"{index_type:<5} build {figures['build_s']:.1f}s (+ calibration {figures['calibrate_s']:.1f}s), "
        f"index {figures['index_mb']:.0f} MB (process grew {figures['rss_mb']:.0f} MB)"
        + (f", {knobs}" if knobs else "")
    ]
    for name in ("all", "filtered"):
        part = figures[name]
        lines.append(
            f"      {name:<8} recall@{RECALL_K} {part[f'recall_at_{RECALL_K}']:.4f}  "
            f"p50 {part['p50_ms']:.2f} ms  p99 {part['p99_ms']:.2f} ms"
        )
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m retrieval.bench_index", description=__doc__)
    parser.add_argument("--items", type=int, default=1_000_000, help="catalogue size")
    parser.add_argument("--queries", type=int, default=200, help="held-out queries, each searched and timed")
    parser.add_argument("--types", default="flat,ivf", help="comma-separated: flat, ivf, hnsw")
    parser.add_argument("--dimension", type=int, default=DIMENSION)
    parser.add_argument("--target-recall", type=float, default=0.95)
    parser.add_argument("--nlist", type=int, default=0, help="IVF lists (default: about 4·sqrt(items))")
    parser.add_argument("--flat-max-items", type=int, default=100_000, help="for the type auto would pick")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json-out", type=Path, help="also write the JSON line here")
    args = parser.parse_args(argv)
    if args.items < 2 * RECALL_K or args.queries < 1:
        parser.error(f"--items must be at least {2 * RECALL_K} and --queries at least 1")
    types = args.types.split(",")
    unknown = set(types) - set(get_args(IndexType))
    if unknown:
        parser.error(f"--types: unknown {sorted(unknown)}")
    args.types = [cast(IndexType, name) for name in types]
    return args


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    started = time.perf_counter()
    everything = clustered_vectors(args.items + args.queries, args.dimension, args.seed)
    vectors, queries = everything[: args.items], np.ascontiguousarray(everything[args.items :])
    allowed = np.random.default_rng(args.seed + 1).random(args.items) < FILTER_SHARE
    generated = time.perf_counter() - started
    truth = (exact_answers(vectors, queries, None), exact_answers(vectors, queries, allowed))
    load = os.getloadavg()[0]
    print(
        f"{args.items:,} clustered {args.dimension}-d items in {generated:.1f}s, {args.queries} queries; "
        f"the filter lets {int(allowed.sum()):,} through; {os.cpu_count()} CPUs, load {load:.1f}"
    )
    results: dict[str, Any] = {}
    for index_type in args.types:
        results[index_type] = bench_type(
            index_type, vectors, queries, truth, allowed, args.target_recall, args.nlist
        )
        print(report_line(index_type, results[index_type]))
    line = {
        "bench": "index",
        "items": args.items,
        "dimension": args.dimension,
        "vectors": "clustered",
        "queries": args.queries,
        "k": RECALL_K,
        "filter_share": FILTER_SHARE,
        "target_recall": args.target_recall,
        "auto_picks": resolve_type("auto", args.items, args.flat_max_items),
        "cpus": os.cpu_count(),
        "load": round(load, 2),
        "types": results,
    }
    emit(line, args.json_out)


if __name__ == "__main__":
    main()
