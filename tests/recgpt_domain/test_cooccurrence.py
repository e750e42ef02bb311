"""Co-occurrence counting on hand-made sequences: window, distance weights, recency, persistence."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from recgpt_domain import cooccurrence
from recgpt_domain.catalogue import iter_histories, read_items
from recgpt_domain.datasets.importer import import_dataset
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


def test_a_pair_is_divided_by_the_seeds_and_the_neighbours_counts_to_their_exponents() -> None:
    # b is seen three times, a and c once each.
    sequences = histories({"u1": ["a", "b"], "u2": ["c", "b"], "u3": ["b"]})
    table, _, _ = cooccurrence.build(
        sequences, ROWS, window=1, top_n=5, seed_exponent=0.3, neighbour_exponent=0
    )
    weights = {
        (seed, names): float(weight)
        for seed in ("a", "b")
        for names, weight in zip(neighbours_of(table, seed), table.weights[ROWS[seed]], strict=False)
    }
    assert weights[("a", "b")] == pytest.approx(1.0)  # a seen once; b's own count does not matter
    assert weights[("b", "a")] == pytest.approx(3**-0.3)
    cosine, _, _ = cooccurrence.build(
        sequences, ROWS, window=1, top_n=5, seed_exponent=0.5, neighbour_exponent=0.5
    )
    assert cosine.weights[ROWS["a"], 0] == pytest.approx(3**-0.5)


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


def test_on_the_amazon_catalogue_neighbours_beat_popularity(amazon_dir: Path, tmp_path: Path) -> None:
    """Leave-last-out over all 6,679 users: the next item is found far more often than by popularity."""
    catalogue = tmp_path / "amazon"
    import_dataset(amazon_dir, catalogue)
    row_of = {item.item_id: row for row, item in enumerate(read_items(catalogue))}
    users = list(iter_histories(catalogue))
    inputs = [user.model_copy(update={"interactions": user.interactions[:-1]}) for user in users]
    table, _, _ = cooccurrence.build(inputs, row_of, window=5, top_n=100)
    k = 50
    popular = set(table.popular_order[:k].tolist())
    collaborative_hits = popular_hits = 0
    for user in users:
        history = [row_of[i.item_id] for i in reversed(user.interactions[:-1])]
        seeds = list(dict.fromkeys(history))[:20]
        rows, scores = table.recommend(seeds, decay=0.85)
        unseen = np.isin(rows, seeds, invert=True)
        rows, scores = rows[unseen], scores[unseen]
        top = set(rows[np.argsort(-scores, kind="stable")[:k]].tolist())
        target = row_of[user.interactions[-1].item_id]
        collaborative_hits += target in top
        popular_hits += target in popular
    assert len(users) > 6000
    assert collaborative_hits > 1.5 * popular_hits > 0
