"""The baseline's learned ranker: gradient-boosted trees over the candidates its routes found.

A weighted sum of best-normalised scores gives each route one weight for every user and item. The routes
disagree in ways one weight cannot follow: co-occurrence's head is sharp where a user's last items are
common and empty where they are rare, the learned route finds the target in its top 50 more often than in
its top 10, and whether the candidate's category is the user's matters more for some users than others.
The ranker reads, for each candidate of the learned, co-occurrence, content and popularity routes (their top
`DEPTH` each), its rank and normalised score in every route, its rank in the weighted fusion, its popularity,
how much of the user's recent window shares its category, and how close its learned item vector is to
those of the user's last items, and orders the candidates by the trees' score. It is trained
(`towers.ranker_training`) on every training user's last interaction, which neither the towers nor the
co-occurrence log saw, and kept only where it beats the weighted fusion on the validation users. Offline
evaluation and the retrieval service compute the same features here, so what is measured is what is
served; the trees are plain arrays evaluated with numpy (no training library at serving).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, Field, PrivateAttr, model_validator

from recgpt_domain.towers.fusion_spread import FusionSpread

Matrix = npt.NDArray[np.float64]
Rows = npt.NDArray[np.int64]

# Each route's top DEPTH candidates are read; absent from a route reads as rank DEPTH and score 0.
DEPTH = 50
# The user's most recent items the category features read (the user tower's window too).
WINDOW = 50
# The most recent items the learned-similarity features compare a candidate with (the closest of the first
# SIMILAR_CLOSEST, the mean over all SIMILAR_WINDOW).
SIMILAR_WINDOW = 10
SIMILAR_CLOSEST = 5
LEARNED, COOCCURRENCE, CONTENT, POPULAR = "learned", "cooccurrence", "content", "popular"
ROUTES = (LEARNED, COOCCURRENCE, CONTENT, POPULAR)
FEATURES = (
    *(f"{route}_{part}" for route in ROUTES for part in ("rank", "score")),
    "fused_rank",
    "log_popularity",
    "category_share",
    "same_category_as_last",
    "log_window",
    # Added after the first rankers: an artefact's ranker may know FEATURES up to here only (its trees never
    # read what follows), and is served as it was trained.
    "learned_similarity_last",
    "learned_similarity_closest",
    "learned_similarity_mean",
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
    # The learned route's item vectors and their norms (the similarity features read 0 without them).
    item_vectors: npt.NDArray[np.float32] | None = None
    item_norms: npt.NDArray[np.float32] | None = None


def vector_norms(item_vectors: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """Each item vector's length, 1 where it is 0 (what the similarity features divide by)."""
    norms = np.linalg.norm(item_vectors, axis=1).astype(np.float32)
    return np.where(norms > 0, norms, np.float32(1.0))


def category_ids(item_category: Sequence[str]) -> Rows:
    """An id per item row for its category name (what the category features compare)."""
    index: dict[str, int] = {}
    return np.asarray([index.setdefault(name, len(index)) for name in item_category], dtype=np.int64)


def _fusion_share(scores: Matrix) -> Matrix:
    """A route's scores as `recgpt_domain.fusion.normalised_scores` makes them: divided by the best (0 where
    not positive), by rank when no score is positive."""
    best = float(scores.max()) if scores.size else 0.0
    if best > 0:
        return np.where(scores > 0, scores / best, 0.0)
    return 1.0 / (1.0 + np.arange(scores.size, dtype=np.float64))


def candidate_features(
    lists: Mapping[str, RouteList],
    weights: Mapping[str, float],
    user: UserContext,
    known: int = len(FEATURES),
) -> tuple[Rows, Matrix]:
    """Every candidate of the routes' top DEPTH (first found first) and its feature row (FEATURES' order);
    features past the first `known` (those a ranker trained before them never reads) are left at 0.

    `fused_rank` is the candidate's place in the platform's weighted fusion (`recgpt_domain.fusion.fuse`:
    best-normalised scores weighted and summed, ties in the order found); a test keeps the two equal."""
    routed = []
    for index, route in enumerate(ROUTES):
        listed = lists.get(route)
        if listed is not None:
            routed.append(
                (index, np.asarray(listed.rows[:DEPTH], dtype=np.int64), np.asarray(listed.scores[:DEPTH]))
            )
    everything = np.concatenate([rows for _, rows, _ in routed]) if routed else np.zeros(0, dtype=np.int64)
    distinct, first = np.unique(everything, return_index=True)
    found_order = np.argsort(first, kind="stable")
    rows = distinct[found_order]
    candidate_of = np.empty(distinct.size, dtype=np.int64)
    candidate_of[found_order] = np.arange(distinct.size)
    out = np.zeros((rows.size, len(FEATURES)), dtype=np.float64)
    out[:, 0 : 2 * len(ROUTES) : 2] = DEPTH
    fused = np.zeros(rows.size)
    # Where fuse first meets each candidate (its ties' order): the weighted routes' rows in turn.
    met = np.full(rows.size, np.iinfo(np.int64).max)
    offset = 0
    for index, route_rows, route_scores in routed:
        at = candidate_of[np.searchsorted(distinct, route_rows)]
        scores = route_scores.astype(np.float64)
        best = float(scores.max()) if scores.size else 0.0
        # Reversed, so that a row listed twice keeps its first (best) place.
        out[at[::-1], 2 * index] = np.arange(at.size, dtype=np.float64)[::-1]
        out[at[::-1], 2 * index + 1] = (scores / best if best > 0 else np.zeros(scores.size))[::-1]
        weight = weights.get(ROUTES[index], 0.0)
        if weight > 0:
            first_time = np.unique(at, return_index=True)[1]
            fused[at[first_time]] += weight * _fusion_share(scores)[first_time]
            np.minimum.at(met, at, offset + np.arange(at.size))
            offset += at.size
    column = 2 * len(ROUTES)
    out[:, column] = DEPTH
    candidates = np.flatnonzero(met < np.iinfo(np.int64).max)
    order = candidates[np.lexsort((met[candidates], -fused[candidates]))][:DEPTH]
    out[order, column] = np.arange(order.size)
    out[:, column + 1] = np.log1p(user.popularity[rows])
    window = np.asarray(list(user.window[:WINDOW]), dtype=np.int64)
    if window.size:
        categories = user.item_category[rows]
        recent = user.item_category[window]
        out[:, column + 2] = (categories[:, None] == recent[None, :]).mean(axis=1)
        out[:, column + 3] = categories == recent[0]
    out[:, column + 4] = np.log1p(window.size)
    if known > column + 5 and window.size and user.item_vectors is not None and user.item_norms is not None:
        recent = window[:SIMILAR_WINDOW]
        cosine = (user.item_vectors[rows] @ user.item_vectors[recent].T).astype(np.float64)
        cosine /= user.item_norms[rows][:, None] * user.item_norms[recent][None, :]
        out[:, column + 5] = cosine[:, 0]
        out[:, column + 6] = cosine[:, :SIMILAR_CLOSEST].max(axis=1)
        out[:, column + 7] = cosine.mean(axis=1)
    return rows, out


@dataclass(frozen=True)
class _Compiled:
    """All trees' nodes in flat arrays (tree t's node n at `offset[t] + n`), each leaf its own child under an
    infinite threshold, so every walk takes `depth` steps with no test for having arrived."""

    offset: Rows
    feature: Rows
    threshold: Matrix
    left: Rows
    right: Rows
    value: Matrix
    depth: int


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
            sizes = [len(nodes) for nodes in self.feature]
            offset = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64) if sizes else np.zeros(0)
            leaf = np.asarray([flag for nodes in self.leaf for flag in nodes], dtype=bool)
            base = np.repeat(offset, sizes).astype(np.int64)
            itself = np.arange(leaf.size, dtype=np.int64)
            left = np.asarray([c for nodes in self.left for c in nodes], dtype=np.int64) + base
            right = np.asarray([c for nodes in self.right for c in nodes], dtype=np.int64) + base
            threshold = np.asarray([t for nodes in self.threshold for t in nodes], dtype=np.float64)
            self._compiled = _Compiled(
                offset=offset.astype(np.int64),
                feature=np.where(leaf, 0, [f for nodes in self.feature for f in nodes]).astype(np.int64),
                threshold=np.where(leaf, np.inf, threshold),
                left=np.where(leaf, itself, left),
                right=np.where(leaf, itself, right),
                value=np.asarray([v for nodes in self.value for v in nodes], dtype=np.float64),
                depth=max(
                    (
                        _depth(left_, right_, leaf_)
                        for left_, right_, leaf_ in zip(self.left, self.right, self.leaf, strict=True)
                    ),
                    default=0,
                ),
            )
        return self._compiled

    def score(self, features: Matrix) -> npt.NDArray[np.float64]:
        """The ensemble's raw score of each row: every tree walked at once, one level a step."""
        trees = self.compiled()
        if not trees.offset.size or not features.shape[0]:
            return np.full(features.shape[0], self.baseline)
        count = features.shape[0]
        by_feature = np.ascontiguousarray(features.T).ravel()  # feature f of row r at f * count + r
        rows = np.arange(count, dtype=np.int64)[None, :]
        node = np.repeat(trees.offset[:, None], count, axis=1)
        for _ in range(trees.depth):
            value = by_feature[trees.feature[node] * count + rows]
            node = np.where(value <= trees.threshold[node], trees.left[node], trees.right[node])
        scores: npt.NDArray[np.float64] = self.baseline + trees.value[node].sum(axis=0)
        return scores


def _depth(left: Sequence[int], right: Sequence[int], leaf: Sequence[bool]) -> int:
    """The longest root-to-leaf path of one tree, in splits."""
    deepest, stack = 0, [(0, 0)]
    while stack:
        node, depth = stack.pop()
        if leaf[node] or depth > len(leaf):
            deepest = max(deepest, depth)
            continue
        stack += [(left[node], depth + 1), (right[node], depth + 1)]
    return deepest


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
        """This platform's features or their first ones (a ranker trained before features were added)."""
        if not self.features or tuple(self.features) != FEATURES[: len(self.features)]:
            raise ValueError(f"ranker features {self.features} are not this platform's {list(FEATURES)}")
        if any(feature >= len(self.features) for nodes in self.trees.feature for feature in nodes):
            raise ValueError("a tree splits on a feature its ranker was not trained with")
        return self

    def rank(
        self, lists: Mapping[str, RouteList], weights: Mapping[str, float], user: UserContext, k: int
    ) -> tuple[Rows, npt.NDArray[np.float64]]:
        """The candidates' top k by the trees, with their probabilities (best first)."""
        rows, features = candidate_features(lists, weights, user, len(self.features))
        if not rows.size:
            return rows, np.zeros(0)
        probabilities = 1.0 / (1.0 + np.exp(-self.trees.score(features)))
        order = np.argsort(-probabilities, kind="stable")[:k]
        return rows[order], probabilities[order]
