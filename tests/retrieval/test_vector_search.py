"""FAISS search under masks: unique rows, best score first, over-fetching, every index type."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from retrieval.indexing import make_faiss_index
from retrieval.vector_search import VectorSearcher, merge


def unit_rows(count: int, dimension: int = 16, seed: int = 7) -> npt.NDArray[np.float32]:
    rows = np.random.default_rng(seed).normal(size=(count, dimension)).astype(np.float32)
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    return rows


def test_merge_keeps_each_row_once_with_its_best_score_and_query() -> None:
    scores = np.array([[0.9, 0.5, 0.1], [0.95, 0.4, 0.3]], dtype=np.float32)
    rows = np.array([[3, 1, -1], [1, 3, 2]], dtype=np.int64)
    hits = merge(scores, rows, None)
    assert hits.rows.tolist() == [1, 3, 2]
    assert hits.scores.tolist() == pytest.approx([0.95, 0.9, 0.3])
    assert hits.queries.tolist() == [1, 0, 1]


@pytest.mark.parametrize("index_type", ["flat", "ivf", "hnsw"])
def test_each_index_type_finds_the_item_itself(index_type: str) -> None:
    vectors = unit_rows(400)
    params = {"ivf": {"nlist": 8}, "hnsw": {"m": 16}}.get(index_type, {})
    index = make_faiss_index(vectors, index_type, params)
    searcher = VectorSearcher(index, vectors, index_type, use_gpu=True, nprobe=8)
    hits = searcher.search(vectors[[5, 17]], 3, None)
    assert {5, 17} <= set(hits.rows.tolist())
    assert hits.scores[0] == pytest.approx(1.0, abs=1e-5)


def test_masked_search_over_fetches_until_enough_rows_pass() -> None:
    vectors = unit_rows(2000)
    searcher = VectorSearcher(make_faiss_index(vectors, "flat", {}), vectors, "flat", use_gpu=False)
    query = vectors[:1]
    exact = np.argsort(-(vectors @ query[0]))
    allowed = np.ones(2000, dtype=np.bool_)
    allowed[exact[:500]] = False  # the 500 nearest are excluded: 4*k is not enough at first
    hits = searcher.search(query, 10, allowed)
    assert hits.rows.tolist() == exact[500:510].tolist()
    assert np.all(np.diff(hits.scores) <= 0)


def test_a_narrow_mask_is_searched_exactly_over_its_rows() -> None:
    vectors = unit_rows(3000)
    searcher = VectorSearcher(make_faiss_index(vectors, "hnsw", {"m": 8}), vectors, "hnsw", use_gpu=False)
    allowed = np.zeros(3000, dtype=np.bool_)
    allowed[[10, 20, 30]] = True
    hits = searcher.search(vectors[20:21], 5, allowed)
    assert hits.rows[0] == 20
    assert sorted(hits.rows.tolist()) == [10, 20, 30]
