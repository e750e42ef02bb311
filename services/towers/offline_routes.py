"""The retrieval routes computed in-process for offline use (evaluation, choosing fusion weights).

Each route ranks items for a history as the retrieval service does: the same recent items as seeds
(`recent`, most recent first), seen items never returned, co-occurrence topped up with popular items, the
tag route bringing at most `per_tag_k` items per tag; fused lists by the platform's own `fuse`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from recgpt.common.v1 import common_pb2
from recgpt_domain.cooccurrence import CoOccurrence
from recgpt_domain.fusion import RouteItems, fuse

Vectors = npt.NDArray[np.float32]
Ranked = list[int]


def _top(scores: npt.NDArray[np.float64] | Vectors, exclude: Sequence[int], k: int) -> Ranked:
    scores = np.array(scores, dtype=np.float64)
    if exclude:
        scores[np.asarray(exclude, dtype=np.int64)] = -np.inf
    k = min(k, int(np.isfinite(scores).sum()))
    top = np.argpartition(-scores, k - 1)[:k] if k else np.zeros(0, dtype=np.int64)
    return [int(row) for row in top[np.lexsort((top, -scores[top]))]]


def recent_distinct(history: Sequence[int], limit: int) -> list[int]:
    """History rows, most recent first, each once: the seeds of the routes."""
    return list(dict.fromkeys(reversed(history)))[:limit]


@dataclass(frozen=True)
class RouteContext:
    """What the routes read: popularity and co-occurrence of the served log, and the item vectors."""

    popularity: Vectors
    cooccurrence: CoOccurrence
    content_vectors: Vectors  # MiniLM, L2-normalised (the content index)
    recency_decay: float = 0.85

    def popular(self, exclude: Sequence[int], k: int) -> tuple[Ranked, list[float]]:
        ranked = _top(self.popularity, exclude, k)
        best = max(float(self.popularity.max()), 1.0)
        return ranked, [float(self.popularity[row]) / best for row in ranked]

    def collaborative(
        self, seeds: Sequence[int], exclude: Sequence[int], k: int
    ) -> tuple[Ranked, list[float]]:
        rows, scores = self.cooccurrence.recommend(list(seeds), self.recency_decay)
        full = np.full(self.popularity.size, -np.inf)
        full[rows] = scores
        ranked = _top(full, exclude, k)
        out_scores = [float(full[row]) for row in ranked]
        if len(ranked) < k:
            extra, extra_scores = self.popular([*exclude, *ranked], k - len(ranked))
            ranked, out_scores = ranked + extra, out_scores + extra_scores
        return ranked, out_scores

    def content(self, seeds: Sequence[int], exclude: Sequence[int], k: int) -> tuple[Ranked, list[float]]:
        centre = self.content_vectors[np.asarray(seeds, dtype=np.int64)].mean(axis=0)
        norm = float(np.linalg.norm(centre))
        scores = self.content_vectors @ (centre / norm if norm > 0 else centre)
        ranked = _top(scores, exclude, k)
        return ranked, [float(scores[row]) for row in ranked]


def scored(vector_scores: Vectors, exclude: Sequence[int], k: int) -> tuple[Ranked, list[float]]:
    """Top k of a full score row (the learned route's user · item scores)."""
    ranked = _top(vector_scores, exclude, k)
    return ranked, [float(vector_scores[row]) for row in ranked]


def per_tag(
    tag_scores: Vectors, exclude: Sequence[int], per_tag_k: int, k: int
) -> tuple[Ranked, list[float]]:
    """Each tag's best `per_tag_k` items, merged by best score (the tag route's `per_query_top_k`)."""
    best: dict[int, float] = {}
    for row in tag_scores:
        for item in _top(row, exclude, per_tag_k):
            best[item] = max(best.get(item, -np.inf), float(row[item]))
    ranked = sorted(best, key=lambda item: (-best[item], item))[:k]
    return ranked, [best[item] for item in ranked]


def frequent_categories(history: Sequence[int], item_category: Sequence[str], k: int) -> list[str]:
    """The user's k most frequent categories, most recent first on ties (the platform's tag fallback)."""
    counts = Counter(item_category[row] for row in reversed(history))
    order = {
        category: index
        for index, category in enumerate(dict.fromkeys(item_category[row] for row in reversed(history)))
    }
    return sorted(counts, key=lambda category: (-counts[category], order[category]))[:k]


def fused(
    routes: Sequence[tuple[str, float, tuple[Ranked, list[float]]]], exclude: Sequence[int], k: int
) -> Ranked:
    """The platform's fusion (`recgpt_domain.fusion.fuse`) over rows: weighted best-normalised scores."""
    items = [
        RouteItems(
            name,
            weight,
            [
                common_pb2.ScoredItem(item=common_pb2.Item(item_id=str(row)), score=score)
                for row, score in zip(ranked[0], ranked[1], strict=True)
            ],
        )
        for name, weight, ranked in routes
    ]
    excluded = {str(row) for row in exclude}
    return [int(candidate.item.item_id) for candidate in fuse(items, excluded)][:k]
