"""Nearest items to query vectors under a row mask: FAISS search, over-fetching until enough pass."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import faiss
import numpy as np
import numpy.typing as npt

from retrieval.filters import Mask

log = logging.getLogger(__name__)

# The bundled faiss stubs miss some classes (SearchParametersHNSW).
_faiss: Any = faiss

# GPU FAISS answers at most this many neighbours per query.
_GPU_MAX_K = 2048


@dataclass(frozen=True)
class Hits:
    """Unique rows, best score first, with the query (position in the request) that scored each best."""

    rows: npt.NDArray[np.int64]
    scores: npt.NDArray[np.float32]
    queries: npt.NDArray[np.int64]


def merge(scores: npt.NDArray[np.float32], rows: npt.NDArray[np.int64], allowed: Mask | None) -> Hits:
    """Flattens per-query results into unique allowed rows, each with its best score."""
    queries = np.broadcast_to(np.arange(rows.shape[0])[:, None], rows.shape)
    keep = rows >= 0
    if allowed is not None:
        keep &= allowed[np.where(keep, rows, 0)]
    flat_rows, flat_scores, flat_queries = rows[keep], scores[keep], queries[keep]
    order = np.argsort(-flat_scores, kind="stable")
    flat_rows, flat_scores, flat_queries = flat_rows[order], flat_scores[order], flat_queries[order]
    _, first = np.unique(flat_rows, return_index=True)
    first.sort()
    return Hits(flat_rows[first], flat_scores[first], flat_queries[first])


def _gpu_count() -> int:
    get_num_gpus = getattr(faiss, "get_num_gpus", None)
    return int(get_num_gpus()) if get_num_gpus is not None else 0


class VectorSearcher:
    """Wraps the loaded index: on a GPU when faiss has one and the type allows, else on the CPU."""

    def __init__(
        self,
        index: faiss.Index,
        vectors: npt.NDArray[np.float32],
        index_type: str,
        *,
        use_gpu: bool,
        nprobe: int = 16,
        ef_search: int = 128,
    ) -> None:
        self.cpu_index = index
        self.vectors = vectors
        self.index_type = index_type
        self.ntotal = int(index.ntotal)
        self._ef_search = ef_search
        self._ivf_params: Any = None
        if index_type == "ivf":
            self._ivf_params = faiss.SearchParametersIVF()
            self._ivf_params.nprobe = nprobe
        self.index = index
        self.on_gpu = False
        if use_gpu and index_type != "hnsw" and _gpu_count() > 0:
            try:
                self.index = faiss.index_cpu_to_all_gpus(index)
                self.on_gpu = True
            except (RuntimeError, AttributeError) as error:
                log.warning("GPU index unavailable, searching on the CPU", extra={"error": str(error)})
        log.info("vector index ready", extra={"index_type": index_type, "gpu": self.on_gpu})

    def _search(self, queries: npt.NDArray[np.float32], k: int) -> tuple[Any, Any]:
        if self.on_gpu and k <= _GPU_MAX_K:
            return self.index.search(queries, k)
        if self.index_type == "hnsw":
            params = _faiss.SearchParametersHNSW()
            params.efSearch = max(self._ef_search, k)
            return self.cpu_index.search(queries, k, params=params)
        if self._ivf_params is not None:
            return self.cpu_index.search(queries, k, params=self._ivf_params)
        return self.cpu_index.search(queries, k)

    @property
    def _subset_limit(self) -> int:
        return max(256, self.ntotal // 16)

    def _search_subset(
        self, queries: npt.NDArray[np.float32], k: int, candidates: npt.NDArray[np.int64]
    ) -> Hits:
        scores = queries @ self.vectors[candidates].T
        rows = np.broadcast_to(candidates, scores.shape)
        hits = merge(scores.astype(np.float32, copy=False), rows, None)
        return Hits(hits.rows[:k], hits.scores[:k], hits.queries[:k])

    def search(
        self, queries: npt.NDArray[np.float32], k: int, allowed: Mask | None, per_query: int = 0
    ) -> Hits:
        """Top `k` unique allowed rows over all queries, over-fetching and growing while filters bite.

        With `per_query` > 0 each query contributes at most its `per_query` best allowed rows. A mask that
        lets few rows through is searched exactly over just those rows instead.
        """
        if 0 < per_query < k:
            if queries.shape[0] > 1:
                return self._search_capped(queries, k, allowed, per_query)
            k = per_query  # one query: the cap is just a smaller k, on the usual path
        if allowed is not None:
            candidates = np.flatnonzero(allowed)
            if candidates.size <= max(self._subset_limit, 4 * k):
                return self._search_subset(queries, k, candidates)
        # Each query's own top k holds k distinct rows, and an item's best score ranks it within the
        # top k of the query that gave it: k per query is exact unmasked, k + blocked rows masked.
        fetch = k
        if allowed is not None:
            blocked = self.ntotal - int(np.count_nonzero(allowed))
            fetch = k + blocked if blocked <= 3 * k else 4 * k
        fetch = min(self.ntotal, fetch)
        while True:
            scores, rows = self._search(queries, fetch)
            hits = merge(scores, rows.astype(np.int64, copy=False), allowed)
            if hits.rows.size >= k or fetch >= self.ntotal:
                return Hits(hits.rows[:k], hits.scores[:k], hits.queries[:k])
            fetch = min(self.ntotal, fetch * 4)

    def _search_capped(
        self, queries: npt.NDArray[np.float32], k: int, allowed: Mask | None, per_query: int
    ) -> Hits:
        """Each query's `per_query` best allowed rows, merged: each row once, with its best score."""
        if allowed is not None:
            candidates = np.flatnonzero(allowed)
            if candidates.size <= max(self._subset_limit, 4 * per_query):
                scores = (queries @ self.vectors[candidates].T).astype(np.float32, copy=False)
                rows = np.broadcast_to(candidates, scores.shape)
                if candidates.size > per_query:
                    # Each query's best `per_query` columns first, so that only those get sorted.
                    top = np.argpartition(-scores, per_query - 1, axis=1)[:, :per_query]
                    scores = np.take_along_axis(scores, top, axis=1)
                    rows = np.take_along_axis(rows, top, axis=1)
                return _capped_merge(scores, rows, None, per_query, k)[0]
        fetch = per_query
        if allowed is not None:
            blocked = self.ntotal - int(np.count_nonzero(allowed))
            fetch = per_query + blocked if blocked <= 3 * per_query else 4 * per_query
        fetch = min(self.ntotal, fetch)
        while True:
            scores, rows = self._search(queries, fetch)
            hits, short = _capped_merge(scores, rows.astype(np.int64, copy=False), allowed, per_query, k)
            if not short or fetch >= self.ntotal:
                return hits
            fetch = min(self.ntotal, fetch * 4)


def _capped_merge(
    scores: npt.NDArray[np.float32],
    rows: npt.NDArray[np.int64],
    allowed: Mask | None,
    per_query: int,
    k: int,
) -> tuple[Hits, bool]:
    """Keeps each query's `per_query` best allowed rows, then merges; also says whether a query ran short."""
    keep = rows >= 0
    if allowed is not None:
        keep &= allowed[np.where(keep, rows, 0)]
    # Best first within each query: rank by score so that exact (unsorted) subsets work too.
    order = np.argsort(-scores, axis=1, kind="stable")
    scores = np.take_along_axis(scores, order, axis=1)
    rows = np.take_along_axis(rows, order, axis=1)
    keep = np.take_along_axis(keep, order, axis=1)
    kept = np.cumsum(keep, axis=1)
    keep &= kept <= per_query
    short = bool((kept[:, -1] < per_query).any()) if kept.size else True
    hits = merge(scores, np.where(keep, rows, -1), None)
    return Hits(hits.rows[:k], hits.scores[:k], hits.queries[:k]), short
