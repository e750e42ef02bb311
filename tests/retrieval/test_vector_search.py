"""FAISS search under masks: unique rows, best score first, over-fetching, every index type."""

from __future__ import annotations

import faiss
import numpy as np
import numpy.typing as npt
import pytest

from retrieval.bench_index import clustered_vectors
from retrieval.index_plan import make_faiss_index
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


def exact_top(
    vectors: npt.NDArray[np.float32], query: npt.NDArray[np.float32], allowed: object = None
) -> list[int]:
    order = np.argsort(-(vectors @ query))
    if allowed is not None:
        order = order[np.asarray(allowed)[order]]
    return [int(row) for row in order]


def test_per_query_cap_lets_every_query_contribute() -> None:
    vectors = unit_rows(2000)
    searcher = VectorSearcher(make_faiss_index(vectors, "flat", {}), vectors, "flat", use_gpu=False)
    # Query 0 is an item itself (scores near 1), query 1 a blend: uncapped, query 0 fills the page.
    strong = vectors[0]
    weak = (vectors[1] + vectors[2]) / 2
    queries = np.stack([strong, weak]).astype(np.float32)
    uncapped = searcher.search(queries, 6, None)
    assert uncapped.queries.tolist().count(1) < 3

    capped = searcher.search(queries, 6, None, per_query=3)

    expected = {*exact_top(vectors, strong)[:3], *exact_top(vectors, weak)[:3]}
    assert set(capped.rows.tolist()) == expected
    assert len(capped.rows) == len(set(capped.rows.tolist())) == len(expected)
    assert np.all(np.diff(capped.scores) <= 0)
    for row, query in zip(capped.rows.tolist(), capped.queries.tolist(), strict=True):
        assert row in exact_top(vectors, queries[query])[:3]


def test_per_query_cap_respects_masks_and_top_k() -> None:
    vectors = unit_rows(2000)
    searcher = VectorSearcher(make_faiss_index(vectors, "flat", {}), vectors, "flat", use_gpu=False)
    queries = vectors[[0, 1, 2]]
    allowed = np.ones(2000, dtype=np.bool_)
    allowed[exact_top(vectors, vectors[0])[:300]] = False  # query 0's 300 nearest are out
    hits = searcher.search(queries, 4, allowed, per_query=2)
    assert len(hits.rows) == 4
    assert all(allowed[row] for row in hits.rows.tolist())
    tops = [set(exact_top(vectors, query, allowed)[:2]) for query in queries]
    assert set(hits.rows.tolist()) <= set().union(*tops)
    # Over a narrow mask (the exact subset path) too.
    narrow = np.zeros(2000, dtype=np.bool_)
    narrow[:40] = True
    exact = searcher.search(queries, 10, narrow, per_query=1)
    assert sorted(exact.rows.tolist()) == [0, 1, 2]


def test_per_query_cap_on_one_query_is_a_smaller_k() -> None:
    vectors = unit_rows(500)
    searcher = VectorSearcher(make_faiss_index(vectors, "flat", {}), vectors, "flat", use_gpu=False)
    hits = searcher.search(vectors[:1], 10, None, per_query=3)
    assert hits.rows.tolist() == exact_top(vectors, vectors[0])[:3]
    assert searcher.search(vectors[:2], 3, None, per_query=5).rows.tolist() == (
        searcher.search(vectors[:2], 3, None).rows.tolist()
    )


def ivf_searcher(vectors: npt.NDArray[np.float32], nlist: int, nprobe: int) -> VectorSearcher:
    index = make_faiss_index(vectors, "ivf", {"nlist": nlist})
    return VectorSearcher(index, vectors, "ivf", device="cpu", nprobe=nprobe)


def test_ivf_under_a_broad_filter_returns_only_allowed_rows_near_the_exact_answer() -> None:
    vectors = clustered_vectors(8000, dimension=32, seed=1)
    searcher = ivf_searcher(vectors, nlist=64, nprobe=2)
    # A filter that ignores the embedding: the best allowed rows lie farther out than the best rows, so
    # the search visits more lists (2 / 0.1: 20).
    allowed = np.random.default_rng(2).random(8000) < 0.1
    recalls = []
    for query in vectors[:40]:
        hits = searcher.search(query[None, :], 20, allowed)
        assert len(hits.rows) == 20
        assert allowed[hits.rows].all()
        assert np.all(np.diff(hits.scores) <= 0)
        recalls.append(len(set(hits.rows.tolist()) & set(exact_top(vectors, query, allowed)[:20])) / 20)
    assert np.mean(recalls) >= 0.9


def test_ivf_visits_more_lists_when_the_near_ones_hold_no_allowed_row() -> None:
    vectors = clustered_vectors(4000, dimension=32, seed=3)
    index = make_faiss_index(vectors, "ivf", {"nlist": 16})
    searcher = VectorSearcher(index, vectors, "ivf", device="cpu", nprobe=1)
    query = vectors[0]
    _, lists = faiss.extract_index_ivf(index).quantizer.search(vectors, 1)
    _, by_distance = faiss.extract_index_ivf(index).quantizer.search(query[None, :], 16)
    far = set(by_distance[0, -2:].tolist())  # the two lists farthest from the query
    allowed = np.isin(lists[:, 0], list(far))
    assert allowed.sum() > 256  # past the exact subset path: the IVF index answers
    hits = searcher.search(query[None, :], 50, allowed)
    assert hits.rows.tolist() == exact_top(vectors, query, allowed)[:50]


def test_ivf_exclusions_are_never_returned_and_the_page_stays_full() -> None:
    vectors = clustered_vectors(5000, dimension=32, seed=4)
    searcher = ivf_searcher(vectors, nlist=32, nprobe=4)
    query = vectors[7]
    seen = exact_top(vectors, query)[:30]
    allowed = np.ones(5000, dtype=np.bool_)
    allowed[seen] = False
    hits = searcher.search(query[None, :], 25, allowed)
    assert len(hits.rows) == 25
    assert not set(hits.rows.tolist()) & set(seen)


def test_ivf_per_query_cap_under_a_mask() -> None:
    vectors = clustered_vectors(5000, dimension=32, seed=5)
    searcher = ivf_searcher(vectors, nlist=32, nprobe=4)
    allowed = np.random.default_rng(6).random(5000) < 0.3
    hits = searcher.search(vectors[[0, 1, 2]], 9, allowed, per_query=3)
    assert len(hits.rows) == 9
    assert allowed[hits.rows].all()
    assert np.bincount(hits.queries, minlength=3).tolist() == [3, 3, 3]


def test_ivf_fills_the_page_when_the_probed_lists_hold_fewer_rows_than_asked() -> None:
    vectors = unit_rows(2000, dimension=16, seed=8)
    searcher = ivf_searcher(vectors, nlist=64, nprobe=1)  # about 31 rows per list
    hits = searcher.search(vectors[:1], 200, None)
    assert len(hits.rows) == len(set(hits.rows.tolist())) == 200
