"""Trains the baseline's ranker (`recgpt_domain.towers.ranker`) and ranks offline exactly as retrieval does.

Examples: every training user's last interaction. Neither the towers (which train on each sequence but its
last item) nor the co-occurrence log the routes read (`evaluate.route_context` holds every last item out)
saw those pairs, so the routes' features are what they will be for a new interaction. The trees are
scikit-learn's histogram gradient boosting, exported to the plain arrays serving walks; a test checks the
export scores as scikit-learn does.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
from sklearn.ensemble import HistGradientBoostingClassifier

from recgpt_domain.towers import ranker
from recgpt_domain.towers.ranker import Ranker, RouteList, Trees, UserContext
from towers import evaluate
from towers.offline_routes import Ranked, recent_distinct

log = logging.getLogger(__name__)

# evaluate's route names -> the ranker's.
ROUTE_NAMES = {
    evaluate.LEARNED: ranker.LEARNED,
    evaluate.COLLABORATIVE: ranker.COOCCURRENCE,
    evaluate.CONTENT: ranker.CONTENT,
    evaluate.POPULAR: ranker.POPULAR,
}
# Chosen on one split's validation users (depth 3 and 5, learning rate 0.05 and 0.1 within 0.002 at R@10).
TREE_OPTIONS: dict[str, Any] = {
    "learning_rate": 0.05,
    "max_depth": 3,
    "max_iter": 200,
    "l2_regularization": 1.0,
}


def fusion_weights(weights: evaluate.Weights) -> dict[str, float]:
    """The weighted fusion's weights by the ranker's route names (its `fused_rank` feature)."""
    return {
        ranker.LEARNED: weights.collaborative,
        ranker.COOCCURRENCE: weights.cooccurrence,
        ranker.CONTENT: weights.content,
    }


def catalogue_context(
    popularity: npt.NDArray[np.float32],
    item_category: npt.NDArray[np.int64],
    item_vectors: npt.NDArray[np.float32] | None,
) -> UserContext:
    """What the features read of the catalogue, as retrieval holds it; each case adds its window."""
    norms = ranker.vector_norms(item_vectors) if item_vectors is not None else None
    return UserContext((), popularity, item_category, item_vectors, norms)


def case_inputs(
    lists: evaluate.RouteLists, index: int, case: evaluate.Case, catalogue: UserContext
) -> tuple[dict[str, RouteList], UserContext]:
    """One case's route lists and user context, as the retrieval service builds them for a request."""
    routes = {
        name: RouteList(*lists.lists[route][index])
        for route, name in ROUTE_NAMES.items()
        if route in lists.lists
    }
    return routes, dataclasses.replace(catalogue, window=recent_distinct(case.history, ranker.WINDOW))


def examples(
    lists: evaluate.RouteLists,
    case_list: Sequence[evaluate.Case],
    weights: evaluate.Weights,
    catalogue: UserContext,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64]]:
    """Every case's candidates as feature rows, labelled 1 for the case's target."""
    features, labels = [], []
    for index, case in enumerate(case_list):
        routes, user = case_inputs(lists, index, case, catalogue)
        rows, matrix = ranker.candidate_features(routes, fusion_weights(weights), user)
        features.append(matrix)
        labels.append((rows == case.target).astype(np.int64))
    if not features:
        return np.zeros((0, len(ranker.FEATURES))), np.zeros(0, dtype=np.int64)
    return np.concatenate(features), np.concatenate(labels)


def export(model: HistGradientBoostingClassifier) -> Trees:
    """The fitted trees as plain arrays (binary classification: one tree per iteration)."""
    columns: dict[str, list[list[Any]]] = {name: [] for name in ("feature", "threshold", "left", "right")}
    leaf: list[list[bool]] = []
    value: list[list[float]] = []
    for (predictor,) in model._predictors:
        nodes = predictor.nodes
        columns["feature"].append([int(f) for f in nodes["feature_idx"]])
        columns["threshold"].append([float(t) for t in nodes["num_threshold"]])
        columns["left"].append([int(c) for c in nodes["left"]])
        columns["right"].append([int(c) for c in nodes["right"]])
        leaf.append([bool(x) for x in nodes["is_leaf"]])
        value.append([float(v) for v in nodes["value"]])
    baseline = float(np.ravel(model._baseline_prediction)[0])
    return Trees(baseline=baseline, leaf=leaf, value=value, **columns)


def fit(features: npt.NDArray[np.float64], labels: npt.NDArray[np.int64], seed: int) -> Trees:
    model = HistGradientBoostingClassifier(**TREE_OPTIONS, random_state=seed)
    model.fit(features, labels)
    log.info("ranker: %d trees on %d candidates (%d targets)", model.n_iter_, len(labels), int(labels.sum()))
    return export(model)


def ranked(
    model: Ranker,
    lists: evaluate.RouteLists,
    case_list: Sequence[evaluate.Case],
    weights: evaluate.Weights,
    catalogue: UserContext,
    k: int = evaluate.TOP_K,
) -> list[tuple[Ranked, list[float]]]:
    """Each case's candidates ordered by the ranker: the list retrieval answers for that user."""
    out = []
    for index, case in enumerate(case_list):
        routes, user = case_inputs(lists, index, case, catalogue)
        rows, scores = model.rank(routes, fusion_weights(weights), user, k)
        out.append(([int(row) for row in rows], [float(score) for score in scores]))
    return out


def train(
    runner: evaluate.RouteRunner,
    training_cases: Sequence[evaluate.Case],
    validation_lists: evaluate.RouteLists,
    validation_cases: Sequence[evaluate.Case],
    weights: evaluate.Weights,
    folds: int,
    seed: int = 0,
) -> Ranker | None:
    """The ranker fitted on `training_cases`, its recgpt-v1 beta chosen on the validation users; None when
    it does not beat the weighted fusion there (R@10 + R@50), which then stays what is served. Adds the
    ranked routes to `validation_lists`."""
    catalogue = catalogue_context(
        runner.context.popularity,
        ranker.category_ids(runner.item_category),
        runner.model.item_vectors if runner.model is not None else None,
    )
    features, labels = examples(runner.base_routes(training_cases), training_cases, weights, catalogue)
    if not labels.sum():
        log.warning("ranker: no training target among the routes' candidates; the weighted fusion stays")
        return None
    model = Ranker(trees=fit(features, labels, seed), trained_users=len(training_cases))
    validation_lists.lists[evaluate.RANKED] = ranked(
        model, validation_lists, validation_cases, weights, catalogue
    )
    report: dict[str, dict[str, float]] = {
        "ranked": evaluate.metrics(validation_lists.rows(evaluate.RANKED), validation_cases),
        "weighted": evaluate.metrics(
            evaluate.fuse_each(validation_lists, validation_cases, weights.baseline_routes()),
            validation_cases,
        ),
    }
    beta, spread = evaluate.choose_beta(
        validation_lists, validation_cases, [(evaluate.RANKED, 1.0)], folds, report=report, prefix="ranked "
    )
    model = model.model_copy(update={"beta": beta, "validation": report, "spread": spread})
    better = sum(report["ranked"][f"recall@{k}"] - report["weighted"][f"recall@{k}"] for k in (10, 50))
    log.info(
        "ranker on %d validation users: %+.4f R@10+R@50 over the weighted fusion",
        len(validation_cases),
        better,
    )
    return model if better > 0 else None


def add_ranked_routes(
    lists: evaluate.RouteLists,
    case_list: Sequence[evaluate.Case],
    model: Ranker,
    weights: evaluate.Weights,
    catalogue: UserContext,
) -> None:
    """The ranked baseline and recgpt-v1 over it (the tag tower on top at 1 - the ranker's beta)."""
    lists.lists[evaluate.RANKED] = ranked(model, lists, case_list, weights, catalogue)
    parts = evaluate.over_baseline_routes([(evaluate.RANKED, 1.0)], evaluate.TAG_TOWER, model.beta)
    lists.lists[evaluate.RANKED_RECGPT] = [
        (ranked_rows, [0.0] * len(ranked_rows)) for ranked_rows in evaluate.fuse_each(lists, case_list, parts)
    ]
