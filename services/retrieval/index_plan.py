"""Which FAISS index a catalogue gets, how it is built, and which search knobs reach the target recall.

Flat search is exact and needs no tuning, but costs a full scan per query; past `flat_max_items` the
builder makes an IVF index instead: k-means lists trained on a sample of the items, nprobe calibrated on
the catalogue's own vectors to the smallest value whose recall@50 against exact search reaches the target.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import faiss
import numpy as np
import numpy.typing as npt

from retrieval.index_store import SearchTuning
from retrieval.settings import IndexChoice, IndexSettings, IndexType

# Recall is measured for the page size the routes ask for.
RECALL_K = 50
# Items used as calibration queries (their own row left out of both answers): enough to read recall to
# about ±0.01.
CALIBRATION_QUERIES = 256
# k-means points per IVF list: just past faiss's minimum of 39, since training costs points x lists and a
# larger sample moves recall little (at 200,000 items, 160 per list built 45% slower for recall@50 within
# 0.005 at the same nprobe).
TRAIN_POINTS_PER_LIST = 40
# efSearch values tried for HNSW.
_EF_LADDER = (16, 32, 64, 128, 256, 512, 1024, 2048)
# Fallbacks for an index whose manifest predates calibration.
DEFAULT_NPROBE = 16
DEFAULT_EF_SEARCH = 128

# The bundled faiss stubs miss some classes (SearchParametersHNSW).
_faiss: Any = faiss


def resolve_type(choice: IndexChoice, items: int, flat_max_items: int) -> IndexType:
    """The concrete type: `auto` is flat up to `flat_max_items` items, IVF beyond."""
    if choice != "auto":
        return choice
    return "flat" if items <= flat_max_items else "ivf"


def default_nlist(items: int) -> int:
    """About 4·sqrt(items) lists: a search scans every centroid, then nprobe lists of items / nlist rows,
    which costs least at nlist = sqrt(nprobe · items), 4·sqrt(items) for an nprobe of 16."""
    return max(1, min(items, int(4 * math.sqrt(items))))


def structure_params(settings: IndexSettings, index_type: IndexType, items: int) -> dict[str, int]:
    """What the index is built with (part of its freshness): IVF lists or HNSW links."""
    if index_type == "ivf":
        return {"nlist": min(settings.ivf_nlist or default_nlist(items), max(1, items))}
    if index_type == "hnsw":
        return {"m": settings.hnsw_m}
    return {}


def make_faiss_index(
    vectors: npt.NDArray[np.float32], index_type: str, params: dict[str, int], seed: int = 0
) -> faiss.Index:
    """A CPU index over normalised vectors, inner product (= cosine); IVF trained on a sample."""
    dimension = vectors.shape[1]
    index: faiss.Index
    if index_type == "flat":
        index = faiss.IndexFlatIP(dimension)
    elif index_type == "ivf":
        nlist = params["nlist"]
        quantizer = faiss.IndexFlatIP(dimension)
        index = faiss.IndexIVFFlat(quantizer, dimension, nlist, faiss.METRIC_INNER_PRODUCT)
        index.cp.seed = seed
        sample = min(len(vectors), TRAIN_POINTS_PER_LIST * nlist)
        rows = np.random.default_rng(seed).choice(len(vectors), size=sample, replace=False)
        index.train(vectors[np.sort(rows)])
    elif index_type == "hnsw":
        index = faiss.IndexHNSWFlat(dimension, params["m"], faiss.METRIC_INNER_PRODUCT)
    else:
        raise ValueError(f"unknown index type {index_type!r}")
    index.add(vectors)
    return index


def search_with(
    index: faiss.Index, index_type: str, queries: npt.NDArray[np.float32], k: int, knob: int
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int64]]:
    """One search of a CPU index with its knob (nprobe, efSearch) passed per call, not set on the index."""
    params: Any = None
    if index_type == "ivf":
        params = faiss.SearchParametersIVF()
        params.nprobe = knob
    elif index_type == "hnsw":
        params = _faiss.SearchParametersHNSW()
        params.efSearch = max(knob, k)
    scores, rows = index.search(queries, k, params=params)
    return scores, rows


def _ladder(index_type: str, params: dict[str, int]) -> Sequence[int]:
    if index_type == "hnsw":
        return _EF_LADDER
    # Powers of two and the midpoints between them (1, 2, 3, 4, 6, 8, 12, ...): at most 1.5 times the
    # nprobe the target needs, then all the lists.
    nlist = params["nlist"]
    steps = {base << power for power in range(nlist.bit_length()) for base in (1, 3)}
    return [*sorted(step for step in steps if step < nlist), nlist]


def _neighbours_but_self(rows: npt.NDArray[np.int64], own: npt.NDArray[np.int64], k: int) -> list[set[int]]:
    return [{int(row) for row in found[found != mine][:k]} for found, mine in zip(rows, own, strict=True)]


def recalls(truth: Sequence[set[int]], found: Sequence[set[int]], k: int) -> npt.NDArray[np.float64]:
    """Per query, the share of its exact top `k` that the approximate answer holds."""
    return np.asarray([len(want & got) / k for want, got in zip(truth, found, strict=True)])


def recall_at(truth: Sequence[set[int]], found: Sequence[set[int]], k: int) -> float:
    return float(recalls(truth, found, k).mean())


def calibrate(
    index: faiss.Index,
    index_type: IndexType,
    params: dict[str, int],
    vectors: npt.NDArray[np.float32],
    target: float,
    fixed: int = 0,
    seed: int = 0,
) -> SearchTuning:
    """The smallest knob on the ladder whose recall@50 reaches `target` with a margin for sampling (the
    largest tried when none does), or the measured recall of `fixed` when a setting imposes it; the
    queries are sampled items, each left out of its own answers."""
    if index_type == "flat":
        return SearchTuning(recall=1.0, recall_k=RECALL_K)
    items = len(vectors)
    k = min(RECALL_K, items - 1)
    if k < 1:
        return SearchTuning(nprobe=1 if index_type == "ivf" else 0, ef_search=0, recall=1.0, recall_k=0)
    own = np.random.default_rng(seed).choice(items, size=min(items, CALIBRATION_QUERIES), replace=False)
    queries = np.ascontiguousarray(vectors[own])
    _, exact = faiss.knn(queries, vectors, k + 1, faiss.METRIC_INNER_PRODUCT)
    truth = _neighbours_but_self(exact, own, k)
    recall, knob = 0.0, 0
    for knob in [fixed] if fixed else _ladder(index_type, params):
        _, rows = search_with(index, index_type, queries, k + 1, knob)
        per_query = recalls(truth, _neighbours_but_self(rows, own, k), k)
        recall = float(per_query.mean())
        # Two standard errors below the sample's mean must still reach the target: the catalogue's own
        # items stand in for queries, and the sample is small.
        if recall - 2 * float(per_query.std()) / math.sqrt(len(per_query)) >= target:
            break
    if index_type == "ivf":
        return SearchTuning(nprobe=knob, recall=recall, recall_k=k)
    return SearchTuning(ef_search=knob, recall=recall, recall_k=k)


def search_knobs(tuning: SearchTuning, nprobe: int, ef_search: int) -> tuple[int, int]:
    """(nprobe, efSearch) for searches: a setting when given (> 0), else the manifest's, else a default."""
    return nprobe or tuning.nprobe or DEFAULT_NPROBE, ef_search or tuning.ef_search or DEFAULT_EF_SEARCH
