"""Late fusion of retrieval routes: per-route normalised scores, weighted and summed per item.

Scores of different routes live on different scales (co-occurrence counts, cosine similarities), so each
route's scores are divided by that route's best score before weighting. An item found by several routes
gets every route's contribution and the joined route name, e.g. "collaborative+content", so the response
shows that both agreed.
"""

from __future__ import annotations

from collections.abc import Container, Sequence
from dataclasses import dataclass

from recgpt.common.v1 import common_pb2


@dataclass(slots=True)
class RouteItems:
    route: str
    weight: float
    items: Sequence[common_pb2.ScoredItem]


@dataclass(slots=True)
class Candidate:
    item: common_pb2.Item
    score: float
    route: str


def normalised_scores(items: Sequence[common_pb2.ScoredItem]) -> list[float]:
    """Scores divided by the route's best; by rank instead when no score is positive."""
    if not items:
        return []
    best = max(scored.score for scored in items)
    if best > 0:
        return [max(scored.score, 0.0) / best for scored in items]
    return [1.0 / (1 + rank) for rank in range(len(items))]


def fuse(routes: Sequence[RouteItems], exclude: Container[str]) -> list[Candidate]:
    """Every item once, best fused score first; items in `exclude` and repeats are dropped."""
    by_id: dict[str, Candidate] = {}
    for route in routes:
        if route.weight <= 0:
            continue
        for scored, norm in zip(route.items, normalised_scores(route.items), strict=True):
            item_id = scored.item.item_id
            if not item_id or item_id in exclude:
                continue
            found = by_id.get(item_id)
            if found is None:
                by_id[item_id] = Candidate(scored.item, route.weight * norm, route.route)
            elif route.route not in found.route.split("+"):
                found.score += route.weight * norm
                found.route = f"{found.route}+{route.route}"
    return sorted(by_id.values(), key=lambda candidate: candidate.score, reverse=True)
