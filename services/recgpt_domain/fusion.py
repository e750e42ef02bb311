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
    # The tag and interest of the tag route, kept when another route found the item too.
    tag: str = ""
    interest: str = ""


def normalised_scores(items: Sequence[common_pb2.ScoredItem]) -> list[float]:
    """Scores divided by the route's best; by rank instead when no score is positive."""
    scores = [scored.score for scored in items]
    best = max(scores, default=0.0)
    if best > 0:
        return [score / best if score > 0 else 0.0 for score in scores]
    return [1.0 / (1 + rank) for rank in range(len(scores))]


def fuse(routes: Sequence[RouteItems], exclude: Container[str]) -> list[Candidate]:
    """Every item once, best fused score first; items in `exclude` and repeats are dropped."""
    by_id: dict[str, Candidate] = {}
    for route in routes:
        if route.weight <= 0:
            continue
        for scored, norm in zip(route.items, normalised_scores(route.items), strict=True):
            item = scored.item
            item_id = item.item_id
            if not item_id or item_id in exclude:
                continue
            found = by_id.get(item_id)
            if found is None:
                by_id[item_id] = Candidate(
                    item, route.weight * norm, route.route, scored.tag, scored.interest
                )
            elif route.route not in found.route.split("+"):
                found.score += route.weight * norm
                found.route = f"{found.route}+{route.route}"
                if scored.tag and not found.tag:
                    found.tag, found.interest = scored.tag, scored.interest
    return sorted(by_id.values(), key=_score, reverse=True)


def _score(candidate: Candidate) -> float:
    return candidate.score


def over_baseline(baseline_weights: Sequence[float], beta: float) -> tuple[list[float], float]:
    """RecGPT-V1's weights: the baseline's own (scaled to sum to `beta`) and the tag route's (1 - beta).

    The tag route joins the baseline's routes instead of replacing them, so beta = 1 serves exactly the
    baseline's ranking and a tag weight chosen on validation can only add to it.
    """
    if beta >= 1:
        return list(baseline_weights), 0.0  # untouched, so not even rounding can reorder the baseline
    total = sum(weight for weight in baseline_weights if weight > 0)
    scale = beta / total if total > 0 else 0.0
    return [max(weight, 0.0) * scale for weight in baseline_weights], 1.0 - beta
