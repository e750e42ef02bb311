"""The baseline's learned ranker: gradient-boosted trees over the candidates its routes found.

A weighted sum of best-normalised scores gives each route one weight for every user and item. The routes
disagree in ways one weight cannot follow: co-occurrence's head is sharp where a user's last items are
common and empty where they are rare, the learned route finds the target in its top 50 more often than in
its top 10, and whether the candidate's category is the user's matters more for some users than others.
The ranker reads, for each candidate of the learned, co-occurrence, content and popularity routes (their top
`DEPTH` each), its rank and normalised score in every route, its rank in the weighted fusion, its popularity,
and how much of the user's recent window shares its category, and orders the candidates by the trees'
score. It is trained (`towers.ranker_training`) on every training user's last interaction, which neither the
towers nor the co-occurrence log saw, and kept only where it beats the weighted fusion on the validation
users. Offline evaluation and the retrieval service compute the same features here, so what is measured
is what is served; the trees are plain arrays evaluated with numpy (no training library at serving).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, Field, PrivateAttr, model_validator

from recgpt.common.v1 import common_pb2
from recgpt_domain.fusion import RouteItems, fuse
from recgpt_domain.towers.fusion_spread import FusionSpread

Matrix = npt.NDArray[np.float64]
Rows = npt.NDArray[np.int64]

# Each route's top DEPTH candidates are read; absent from a route reads as rank DEPTH and score 0.
DEPTH = 50
# The user's most recent items the category features read (the user tower's window too).
WINDOW = 50
LEARNED, COOCCURRENCE, CONTENT, POPULAR = "learned", "cooccurrence", "content", "popular"
ROUTES = (LEARNED, COOCCURRENCE, CONTENT, POPULAR)
FEATURES = (
    *(f"{route}_{part}" for route in ROUTES for part in ("rank", "score")),
    "fused_rank",
    "log_popularity",
    "category_share",
    "same_category_as_last",
    "log_window",
)


@dataclass(frozen=True)
class RouteList:
    """One route's answer, best first: item rows and their scores."""

    rows: Sequence[int]
    scores: Sequence[float]


@dataclass(frozen=True)
class UserContext:
    """What the features read of the user and the catalogue."""

    window: Sequence[int]  # the user's recent item rows, most recent first (at most WINDOW are read)
    popularity: npt.NDArray[np.float32]  # interactions per item row in the served log
    item_category: npt.NDArray[np.int64]  # a category id per item row


def category_ids(item_category: Sequence[str]) -> Rows:
    """An id per item row for its category name (what the category features compare)."""
    index: dict[str, int] = {}
    return np.asarray([index.setdefault(name, len(index)) for name in item_category], dtype=np.int64)


def weighted_order(lists: Mapping[str, RouteList], weights: Mapping[str, float]) -> list[int]:
    """The rows as the platform's weighted fusion (`recgpt_domain.fusion.fuse`) orders them."""
    routes = [
        RouteItems(
            route,
            weights.get(route, 0.0),
            [
                common_pb2.ScoredItem(item=common_pb2.Item(item_id=str(row)), score=float(score))
                for row, score in zip(listed.rows[:DEPTH], listed.scores[:DEPTH], strict=True)
            ],
        )
        for route, listed in lists.items()
    ]
    return [int(candidate.item.item_id) for candidate in fuse(routes, ())]


def candidate_features(
    lists: Mapping[str, RouteList], weights: Mapping[str, float], user: UserContext
) -> tuple[Rows, Matrix]:
    """Every candidate of the routes' top DEPTH (first found first) and its feature row (FEATURES' order)."""
    candidates: dict[int, int] = {}
    for route in ROUTES:
        if route in lists:
            for row in lists[route].rows[:DEPTH]:
                candidates.setdefault(int(row), len(candidates))
    rows = np.fromiter(candidates, dtype=np.int64, count=len(candidates))
    out = np.zeros((rows.size, len(FEATURES)), dtype=np.float64)
    for index, route in enumerate(ROUTES):
        out[:, 2 * index] = DEPTH
        listed = lists.get(route)
        if listed is None:
            continue
        scores = np.asarray(listed.scores[:DEPTH], dtype=np.float64)
        best = float(scores.max()) if scores.size else 0.0
        for rank, (row, score) in enumerate(zip(listed.rows[:DEPTH], scores, strict=True)):
            at = candidates[int(row)]
            if out[at, 2 * index] == DEPTH:
                out[at, 2 * index] = rank
                out[at, 2 * index + 1] = score / best if best > 0 else 0.0
    column = 2 * len(ROUTES)
    out[:, column] = DEPTH
    for rank, row in enumerate(weighted_order(lists, weights)[:DEPTH]):
        out[candidates[row], column] = rank
    out[:, column + 1] = np.log1p(user.popularity[rows])
    window = np.asarray(list(user.window[:WINDOW]), dtype=np.int64)
    if window.size:
        categories = user.item_category[rows]
        recent = user.item_category[window]
        out[:, column + 2] = (categories[:, None] == recent[None, :]).mean(axis=1)
        out[:, column + 3] = categories == recent[0]
    out[:, column + 4] = np.log1p(window.size)
    return rows, out


@dataclass(frozen=True)
class _Compiled:
    """The trees padded to one node count: (trees, nodes) arrays."""

    feature: Rows
    threshold: Matrix
    left: Rows
    right: Rows
    leaf: npt.NDArray[np.bool_]
    value: Matrix


class Trees(BaseModel):
    """Regression trees as flat arrays, one list per tree; a split sends `x[feature] <= threshold` left."""

    baseline: float
    feature: list[list[int]]
    threshold: list[list[float]]
    left: list[list[int]]
    right: list[list[int]]
    leaf: list[list[bool]]
    value: list[list[float]]
    _compiled: _Compiled | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _shapes(self) -> Trees:
        arrays = (self.feature, self.threshold, self.left, self.right, self.leaf, self.value)
        if len({len(array) for array in arrays}) != 1:
            raise ValueError("every tree needs each of its arrays")
        for tree in zip(*arrays, strict=True):
            nodes = len(tree[0])
            if nodes == 0 or any(len(array) != nodes for array in tree):
                raise ValueError("a tree's arrays must be non-empty and of one length")
            if any(not 0 <= child < nodes for child in (*tree[2], *tree[3])):
                raise ValueError("a tree's children must be its own nodes")
            if any(not 0 <= feature < len(FEATURES) for feature in tree[0]):
                raise ValueError("a tree splits on a feature the ranker does not have")
        return self

    def compiled(self) -> _Compiled:
        if self._compiled is None:
            width = max((len(nodes) for nodes in self.feature), default=1)

            def padded(arrays: Sequence[Sequence[float]], fill: float) -> Matrix:
                rows = [[*nodes, *([fill] * (width - len(nodes)))] for nodes in arrays]
                return np.asarray(rows or [[fill]], dtype=np.float64)

            self._compiled = _Compiled(
                feature=padded(self.feature, 0).astype(np.int64),
                threshold=padded(self.threshold, 0.0),
                left=padded(self.left, 0).astype(np.int64),
                right=padded(self.right, 0).astype(np.int64),
                leaf=padded(self.leaf, 1).astype(bool),
                value=padded(self.value, 0.0),
            )
        return self._compiled

    def score(self, features: Matrix) -> npt.NDArray[np.float64]:
        """The ensemble's raw score of each row: every tree walked at once, one level a step."""
        if not self.feature:
            return np.full(features.shape[0], self.baseline)
        trees = self.compiled()
        index = np.arange(trees.feature.shape[0])[:, None]
        samples = np.arange(features.shape[0])[None, :]
        node = np.zeros((trees.feature.shape[0], features.shape[0]), dtype=np.int64)
        for _ in range(trees.feature.shape[1]):
            at_leaf = trees.leaf[index, node]
            if at_leaf.all():
                break
            goes_left = features[samples, trees.feature[index, node]] <= trees.threshold[index, node]
            child = np.where(goes_left, trees.left[index, node], trees.right[index, node])
            node = np.where(at_leaf, node, child)
        scores: npt.NDArray[np.float64] = self.baseline + trees.value[index, node].sum(axis=0)
        return scores


class Ranker(BaseModel):
    """A trained ranker as the artefact keeps it, with what chose it."""

    features: list[str] = Field(default_factory=lambda: list(FEATURES))
    trees: Trees
    # recgpt-v1 over the ranked baseline: beta·ranked + (1 - beta)·tag route, chosen as for the fusion.
    beta: float = Field(default=1.0, ge=0, le=1)
    # Users it was trained on, and its validation figures beside the weighted fusion's.
    trained_users: int = 0
    validation: dict[str, dict[str, float]] = Field(default_factory=dict)
    # How recgpt-v1's beta over it scored across folds of the validation users.
    spread: FusionSpread | None = None

    @model_validator(mode="after")
    def _same_features(self) -> Ranker:
        if tuple(self.features) != FEATURES:
            raise ValueError(f"ranker features {self.features} are not this platform's {list(FEATURES)}")
        return self

    def rank(
        self, lists: Mapping[str, RouteList], weights: Mapping[str, float], user: UserContext, k: int
    ) -> tuple[Rows, npt.NDArray[np.float64]]:
        """The candidates' top k by the trees, with their probabilities (best first)."""
        rows, features = candidate_features(lists, weights, user)
        if not rows.size:
            return rows, np.zeros(0)
        probabilities = 1.0 / (1.0 + np.exp(-self.trees.score(features)))
        order = np.argsort(-probabilities, kind="stable")[:k]
        return rows[order], probabilities[order]
