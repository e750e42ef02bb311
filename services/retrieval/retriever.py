"""The loaded retrieval state and its routes: vector search, the content route, co-occurrence, popular."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from recgpt_domain.catalogue import ITEMS_FILE, fingerprint, read_items
from recgpt_domain.cooccurrence import CoOccurrence
from recgpt_domain.embedder import Embedder, QueryCache, Vectors
from retrieval.filters import FilterCompiler, Mask
from retrieval.index_plan import search_knobs
from retrieval.index_store import IndexLoadError, IndexManifest, StoredIndex
from retrieval.item_table import ItemTable
from retrieval.settings import RetrievalSettings
from retrieval.vector_search import Hits, VectorSearcher

log = logging.getLogger(__name__)

ROUTE_COLLABORATIVE = "collaborative"
ROUTE_POPULAR = "popular"


@dataclass(frozen=True)
class Ranked:
    """Rows best first, with their scores and the route that brought each."""

    rows: npt.NDArray[np.int64]
    scores: npt.NDArray[np.float32]
    routes: list[str]


def _best_first(
    rows: npt.NDArray[np.int64], scores: npt.NDArray[np.float32], k: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
    """Top `k` by score, ties broken by row so answers are stable."""
    if rows.size > k:
        top = np.argpartition(-scores, k - 1)[:k]
        rows, scores = rows[top], scores[top]
    order = np.lexsort((rows, -scores))
    return rows[order], scores[order]


class Retriever:
    """Everything a request needs, in memory: item table, vectors, FAISS, co-occurrence, the embedder."""

    def __init__(
        self,
        stored: StoredIndex,
        table: ItemTable,
        embedder: Embedder,
        settings: RetrievalSettings,
    ) -> None:
        self.manifest: IndexManifest = stored.manifest
        self.table = table
        self.embedder = embedder
        self.vectors = stored.vectors
        self.cooccurrence: CoOccurrence = stored.cooccurrence
        nprobe, ef_search = search_knobs(stored.manifest.search, settings.ivf_nprobe, settings.hnsw_ef_search)
        self.searcher = VectorSearcher(
            stored.index,
            stored.vectors,
            stored.manifest.index_type,
            device=settings.faiss_device,
            nprobe=nprobe,
            ef_search=ef_search,
        )
        self.filters = FilterCompiler(table)
        self.recency_decay = settings.recency_decay
        self._cache = QueryCache(settings.text_cache_size)
        # One encoding at a time: two torch encodes in parallel only fight over the same cores.
        self._encoder = ThreadPoolExecutor(max_workers=1, thread_name_prefix="embed")
        max_popularity = float(self.cooccurrence.popularity.max(initial=0.0))
        self._popular_scores = self.cooccurrence.popularity / max(max_popularity, 1.0)
        _ = self.cooccurrence.popular_order  # computed now, not on the first request

    @property
    def dimension(self) -> int:
        return self.manifest.dimension

    def close(self) -> None:
        self._encoder.shutdown(wait=False, cancel_futures=True)

    async def embed(self, texts: Sequence[str]) -> Vectors:
        """Query vectors for texts, from the cache where possible, encoding the rest off the event loop."""
        found: dict[str, Vectors] = {}
        missing: list[str] = []
        for text in texts:
            vector = self._cache.get(text)
            if vector is not None:
                found[text] = vector
            elif text not in found:
                missing.append(text)
        missing = list(dict.fromkeys(missing))
        if missing:
            loop = asyncio.get_running_loop()
            encoded = await loop.run_in_executor(self._encoder, self.embedder.encode, missing)
            for text, vector in zip(missing, encoded, strict=True):
                self._cache.put(text, vector)
                found[text] = vector
        return np.stack([found[text] for text in texts]).astype(np.float32, copy=False)

    def search(self, queries: Vectors, k: int, allowed: Mask | None, per_query: int = 0) -> Hits:
        """Top `k` over the queries; with `per_query` > 0 each query brings at most that many."""
        return self.searcher.search(np.ascontiguousarray(queries, dtype=np.float32), k, allowed, per_query)

    def similar_to(self, rows: Sequence[int], k: int, allowed: Mask | None) -> Hits:
        """The content route: nearest items to the normalised mean of the given items' vectors."""
        centre = self.vectors[np.asarray(rows, dtype=np.int64)].mean(axis=0, keepdims=True)
        norm = float(np.linalg.norm(centre))
        if norm > 0:
            centre /= norm
        return self.search(centre, k, allowed)

    def collaborative(self, seeds: Sequence[int], k: int, allowed: Mask | None) -> Ranked:
        """Neighbours of the seeds (most recent first), topped up with popular items when too few."""
        rows, scores = self.cooccurrence.recommend(seeds, self.recency_decay)
        keep = np.isin(rows, np.asarray(seeds, dtype=np.int64), invert=True)
        if allowed is not None:
            keep &= allowed[rows]
        rows, scores = _best_first(rows[keep], scores[keep], k)
        routes = [ROUTE_COLLABORATIVE] * rows.size
        if rows.size < k:
            extra = self.popular(k - rows.size, allowed, taken=rows)
            rows = np.concatenate([rows, extra.rows])
            scores = np.concatenate([scores, extra.scores])
            routes += extra.routes
        return Ranked(rows, scores, routes)

    def popular(self, k: int, allowed: Mask | None, taken: npt.NDArray[np.int64] | None = None) -> Ranked:
        order = self.cooccurrence.popular_order
        if allowed is not None:
            order = order[allowed[order]]
        if taken is not None and taken.size:
            order = order[: k + taken.size]
            order = order[np.isin(order, taken, invert=True)]
        rows = order[:k]
        scores = self._popular_scores[rows].astype(np.float32)
        return Ranked(rows, scores, [ROUTE_POPULAR] * rows.size)


def load_retriever(stored: StoredIndex, settings: RetrievalSettings, embedder: Embedder) -> Retriever:
    """Pairs a loaded index with the catalogue and the model; raises IndexLoadError when they disagree."""
    manifest = stored.manifest
    if manifest.model != embedder.model_name or manifest.dimension != embedder.dimension:
        raise IndexLoadError(
            f"index built with {manifest.model} ({manifest.dimension}-d), "
            f"the service embeds with {embedder.model_name} ({embedder.dimension}-d)"
        )
    items_path = settings.catalogue_dir / ITEMS_FILE
    if not items_path.is_file():
        raise IndexLoadError(f"catalogue {settings.catalogue_dir} has no {ITEMS_FILE}")
    if fingerprint(items_path) != manifest.catalogue_fingerprint:
        raise IndexLoadError(
            f"index at {settings.index_dir} is stale: {items_path} changed since it was built "
            "(run recgpt-build-index)"
        )
    items = read_items(settings.catalogue_dir)
    if [item.item_id for item in items] != stored.item_ids:
        raise IndexLoadError("index item ids do not match the catalogue's items")
    return Retriever(stored, ItemTable(items), embedder, settings)
