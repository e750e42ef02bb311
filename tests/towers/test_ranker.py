"""The baseline's ranker: its features, its trees scored as scikit-learn scores them, what training keeps."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError
from sklearn.ensemble import HistGradientBoostingClassifier

from recgpt.common.v1 import common_pb2
from recgpt_domain.fusion import RouteItems, fuse
from recgpt_domain.towers import ranker
from recgpt_domain.towers.ranker import FEATURES, Ranker, RouteList, Trees, UserContext
from towers import evaluate, ranker_training

POPULARITY = np.asarray([10, 0, 3, 7, 1, 50], dtype=np.float32)
CATEGORY = np.asarray([0, 0, 1, 1, 2, 2], dtype=np.int64)


def column(name: str) -> int:
    return FEATURES.index(name)


def test_each_candidate_reads_its_rank_and_share_of_the_best_score_in_every_route() -> None:
    lists = {
        ranker.LEARNED: RouteList([2, 3], [0.5, 1.0 / 4]),
        ranker.COOCCURRENCE: RouteList([3, 4], [8.0, 2.0]),
        ranker.POPULAR: RouteList([5], [1.0]),
    }
    user = UserContext(window=[0, 1, 2], popularity=POPULARITY, item_category=CATEGORY)

    rows, features = ranker.candidate_features(lists, {ranker.LEARNED: 1.0}, user)

    assert rows.tolist() == [2, 3, 4, 5]  # first found first, each once
    three = features[1]
    assert three[column("learned_rank")] == 1 and three[column("learned_score")] == pytest.approx(0.5)
    assert three[column("cooccurrence_rank")] == 0 and three[column("cooccurrence_score")] == 1.0
    assert three[column("content_rank")] == ranker.DEPTH and three[column("content_score")] == 0.0
    # The weighted fusion (the learned route alone here) puts 2 first, 3 second, and not 4 or 5 at all.
    assert features[:, column("fused_rank")].tolist() == [0, 1, ranker.DEPTH, ranker.DEPTH]
    assert features[0, column("log_popularity")] == pytest.approx(np.log1p(3))
    # The window (most recent first: 0, 1, 2) has categories 0, 0, 1.
    assert features[:, column("category_share")].tolist() == pytest.approx([1 / 3, 1 / 3, 0, 0])
    assert features[:, column("same_category_as_last")].tolist() == [0, 0, 0, 0]
    assert features[0, column("log_window")] == pytest.approx(np.log1p(3))


@pytest.mark.parametrize("seed", range(6))
def test_the_fused_rank_is_the_platforms_fusion_order(seed: int) -> None:
    rng = np.random.default_rng(seed)
    lists = {
        route: RouteList(
            [int(row) for row in rng.choice(300, size=int(rng.integers(0, 60)), replace=False)],
            [float(score) for score in rng.choice([0.0, 0.5, 1.0, 2.0], size=60)],
        )
        for route in ranker.ROUTES
    }
    lists = {route: RouteList(r.rows, r.scores[: len(r.rows)]) for route, r in lists.items()}
    weights = {ranker.LEARNED: 0.5, ranker.COOCCURRENCE: float(seed % 2) * 0.3, ranker.CONTENT: 0.2}
    user = UserContext(window=[0], popularity=np.ones(300, np.float32), item_category=np.zeros(300, np.int64))

    rows, features = ranker.candidate_features(lists, weights, user)

    routes = [
        RouteItems(
            route,
            weights.get(route, 0.0),
            [
                common_pb2.ScoredItem(item=common_pb2.Item(item_id=str(row)), score=score)
                for row, score in zip(listed.rows[: ranker.DEPTH], listed.scores[: ranker.DEPTH], strict=True)
            ],
        )
        for route, listed in lists.items()
    ]
    platform = [int(candidate.item.item_id) for candidate in fuse(routes, ())][: ranker.DEPTH]
    ranks = features[:, column("fused_rank")]
    assert [int(row) for row in rows[np.argsort(ranks, kind="stable")][: len(platform)]] == platform
    assert (ranks == ranker.DEPTH).sum() == len(rows) - len(platform)


def test_exported_trees_score_as_scikit_learn_does() -> None:
    rng = np.random.default_rng(0)
    features = rng.normal(size=(3000, len(FEATURES)))
    labels = ((features[:, 0] + features[:, 3] * features[:, 5] + rng.normal(size=3000)) > 1.5).astype(
        np.int64
    )
    model = HistGradientBoostingClassifier(max_iter=30, max_depth=4, random_state=0).fit(features, labels)

    trees = ranker_training.export(model)

    held_out = rng.normal(size=(500, len(FEATURES)))
    assert np.allclose(trees.score(held_out), model.decision_function(held_out), atol=1e-9)
    # What the artefact stores round-trips to the same scores.
    assert np.allclose(
        Trees.model_validate_json(trees.model_dump_json()).score(held_out), trees.score(held_out)
    )


def cooccurrence_first() -> Trees:
    """One stump: co-occurrence's first item scores high, everything else low."""
    return Trees(
        baseline=0.0,
        feature=[[column("cooccurrence_rank"), 0, 0]],
        threshold=[[0.5, 0.0, 0.0]],
        left=[[1, 0, 0]],
        right=[[2, 0, 0]],
        leaf=[[False, True, True]],
        value=[[0.0, 3.0, -3.0]],
    )


# Learned ranks 1, 2, 3; co-occurrence finds 3 alone.
THREE_CANDIDATES = {
    ranker.LEARNED: RouteList([1, 2, 3], [3.0, 2.0, 1.0]),
    ranker.COOCCURRENCE: RouteList([3], [1.0]),
}


def test_the_ranker_orders_candidates_by_the_trees() -> None:
    stump, lists = cooccurrence_first(), THREE_CANDIDATES
    user = UserContext(window=[0], popularity=POPULARITY, item_category=CATEGORY)

    rows, scores = Ranker(trees=stump).rank(lists, {ranker.LEARNED: 1.0}, user, k=2)

    assert rows.tolist() == [3, 1] and scores[0] > 0.9 and scores[1] < 0.1


@pytest.mark.parametrize(
    "change",
    [
        {"left": [[5, 0, 0]]},  # a child outside the tree
        {"feature": [[len(FEATURES), 0, 0]]},  # a feature the ranker does not compute
        {"value": [[0.0, 1.0]]},  # arrays of different lengths
    ],
)
def test_a_damaged_ranker_is_refused(change: dict[str, object]) -> None:
    fields: dict[str, object] = {
        "baseline": 0.0,
        "feature": [[0, 0, 0]],
        "threshold": [[0.5, 0.0, 0.0]],
        "left": [[1, 0, 0]],
        "right": [[2, 0, 0]],
        "leaf": [[False, True, True]],
        "value": [[0.0, 1.0, -1.0]],
    }
    with pytest.raises(ValidationError):
        Trees.model_validate({**fields, **change})


def test_a_ranker_of_other_features_is_refused() -> None:
    trees = Trees(baseline=0.0, feature=[], threshold=[], left=[], right=[], leaf=[], value=[])
    with pytest.raises(ValidationError, match="features"):
        Ranker(features=["learned_score"], trees=trees)
    with pytest.raises(ValidationError, match="features"):
        Ranker(features=[], trees=trees)


SIMILARITY = ("learned_similarity_last", "learned_similarity_closest", "learned_similarity_mean")


def test_a_ranker_trained_before_the_similarity_features_is_served_as_trained() -> None:
    known = [name for name in FEATURES if name not in SIMILARITY]
    stump, lists = cooccurrence_first(), THREE_CANDIDATES
    user = UserContext(window=[0], popularity=POPULARITY, item_category=CATEGORY)

    rows, _ = Ranker(features=known, trees=stump).rank(lists, {ranker.LEARNED: 1.0}, user, k=2)

    assert rows.tolist() == [3, 1]
    # Its trees may not read a feature it was not trained with.
    reading_similarity = stump.model_copy(update={"feature": [[column(SIMILARITY[0]), 0, 0]]})
    with pytest.raises(ValidationError, match="not trained with"):
        Ranker(features=known, trees=reading_similarity)


def test_similarity_features_compare_the_learned_vectors_with_the_last_items() -> None:
    vectors = np.asarray([[1, 0], [0, 2], [1, 1], [0, -1], [3, 0], [1, 0]], dtype=np.float32)
    user = UserContext(
        window=[0, 1],  # most recent first: item 0, then item 1
        popularity=POPULARITY,
        item_category=CATEGORY,
        item_vectors=vectors,
        item_norms=ranker.vector_norms(vectors),
    )
    lists = {ranker.LEARNED: RouteList([2, 3, 4], [1.0, 0.5, 0.2])}

    rows, features = ranker.candidate_features(lists, {ranker.LEARNED: 1.0}, user)

    assert rows.tolist() == [2, 3, 4]
    half = np.sqrt(0.5)
    assert features[:, column("learned_similarity_last")] == pytest.approx([half, 0.0, 1.0])
    assert features[:, column("learned_similarity_closest")] == pytest.approx([half, 0.0, 1.0])
    assert features[:, column("learned_similarity_mean")] == pytest.approx([half, -0.5, 0.5])
    # A ranker that never reads them (trained before them) does not have them computed.
    _, unread = ranker.candidate_features(lists, {ranker.LEARNED: 1.0}, user, FEATURES.index(SIMILARITY[0]))
    assert not unread[:, [column(name) for name in SIMILARITY]].any()
    # Without the vectors (no artefact's items) they read 0.
    plain = UserContext(window=[0, 1], popularity=POPULARITY, item_category=CATEGORY)
    _, without = ranker.candidate_features(lists, {ranker.LEARNED: 1.0}, plain)
    assert not without[:, [column(name) for name in SIMILARITY]].any()


def _routes(cases: list[evaluate.Case], found: int) -> evaluate.RouteLists:
    """Co-occurrence finds each target at rank `found`; learned finds it never (scores fall with rank)."""
    lists = evaluate.RouteLists()
    for case in cases:
        others = [row for row in range(100, 200) if row != case.target]
        cooc = [*others[:found], case.target, *others[found:30]]
        for route, ranked in (
            (evaluate.LEARNED, others[40:90]),
            (evaluate.COLLABORATIVE, cooc),
            (evaluate.CONTENT, others[60:70]),
            (evaluate.POPULAR, others[:50]),
        ):
            lists.add(route, (ranked, [1.0 - rank / 100 for rank in range(len(ranked))]))
    return lists


def test_ranked_routes_put_what_the_trees_learned_first() -> None:
    # The weighted fusion trusts learned (0.9) over co-occurrence (0.1), whose rank-12 item is the target:
    # trained on such cases, the ranker lifts co-occurrence's twelfth item into the top 10.
    cases = [evaluate.Case(f"u{u}", [u % 5], 50 + u % 40) for u in range(200)]
    lists = _routes(cases, found=12)
    weights = evaluate.Weights(0.9, 0.0, 1.0, 0.1)
    catalogue = ranker_training.catalogue_context(np.ones(300, np.float32), np.zeros(300, np.int64), None)
    features, labels = ranker_training.examples(lists, cases, weights, catalogue)
    model = Ranker(trees=ranker_training.fit(features, labels, seed=0))

    ranker_training.add_ranked_routes(lists, cases, model, weights, catalogue)

    weighted = evaluate.metrics(evaluate.fuse_each(lists, cases, weights.baseline_routes()), cases)
    ranked = evaluate.metrics(lists.rows(evaluate.RANKED), cases)
    assert weighted["recall@10"] == 0.0 and ranked["recall@10"] == 1.0
    # beta 1 (the ranker's default): recgpt-v1 over the ranked baseline is the ranked baseline.
    assert lists.rows(evaluate.RANKED_RECGPT) == lists.rows(evaluate.RANKED)
