"""Co-occurrence counting on hand-made sequences: window, distance weights, recency, persistence."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from retrieval import cooccurrence
from tests.retrieval.catalogue_folder import histories

ROWS = {item: row for row, item in enumerate(["a", "b", "c", "d", "e"])}


def neighbours_of(table: cooccurrence.CoOccurrence, item: str) -> list[str]:
    names = list(ROWS)
    return [names[row] for row in table.neighbours[ROWS[item]] if row >= 0]


def test_pairs_within_the_window_only_and_weighted_by_distance() -> None:
    table, users, interactions = cooccurrence.build(
        histories({"u1": ["a", "b", "c", "d"]}), ROWS, window=2, top_n=10
    )
    assert (users, interactions) == (1, 4)
    assert neighbours_of(table, "a") == ["b", "c"]  # d is 3 apart
    weights = dict(zip(neighbours_of(table, "a"), table.weights[ROWS["a"]], strict=False))
    assert weights["b"] == pytest.approx(1.0)  # distance 1, each item seen once
    assert weights["c"] == pytest.approx(0.5)
    assert neighbours_of(table, "e") == []


def test_pairs_never_span_two_users_and_unknown_items_are_ignored() -> None:
    table, _, interactions = cooccurrence.build(
        histories({"u1": ["a", "zz"], "u2": ["b", "c"]}), ROWS, window=3, top_n=10
    )
    assert interactions == 4
    assert neighbours_of(table, "a") == []
    assert neighbours_of(table, "b") == ["c"]
    assert table.popularity[ROWS["a"]] == 1


def test_top_n_keeps_the_strongest_neighbours() -> None:
    sequences = {"u1": ["a", "b"], "u2": ["a", "b"], "u3": ["a", "c"], "u4": ["a", "d"]}
    table, _, _ = cooccurrence.build(histories(sequences), ROWS, window=1, top_n=1)
    assert neighbours_of(table, "a") == ["b"]
    assert table.neighbours.shape == (5, 1)


def test_recent_seeds_weigh_more() -> None:
    sequences = {"u1": ["a", "c"], "u2": ["b", "d"]}
    table, _, _ = cooccurrence.build(histories(sequences), ROWS, window=1, top_n=5)
    rows, scores = table.recommend([ROWS["a"], ROWS["b"]], decay=0.5)
    by_row = dict(zip(rows.tolist(), scores.tolist(), strict=True))
    assert by_row[ROWS["c"]] > by_row[ROWS["d"]]
    rows, _ = table.recommend([], decay=0.5)
    assert rows.size == 0


def test_popular_order_counts_interactions() -> None:
    sequences = {"u1": ["c", "a"], "u2": ["c"], "u3": ["c", "a", "e"]}
    table, _, _ = cooccurrence.build(histories(sequences), ROWS, window=1, top_n=5)
    assert table.popular_order[:3].tolist() == [ROWS["c"], ROWS["a"], ROWS["e"]]


def test_saved_table_loads_back_and_a_wrong_size_is_refused(tmp_path: Path) -> None:
    table, _, _ = cooccurrence.build(histories({"u1": ["a", "b", "c"]}), ROWS, window=2, top_n=3)
    cooccurrence.save(table, tmp_path / "co.npz")
    loaded = cooccurrence.load(tmp_path / "co.npz", items=5)
    np.testing.assert_array_equal(loaded.neighbours, table.neighbours)
    np.testing.assert_array_equal(loaded.weights, table.weights)
    with pytest.raises(ValueError, match="shaped for 5 items"):
        cooccurrence.load(tmp_path / "co.npz", items=6)
