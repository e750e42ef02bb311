"""Pure evaluation metrics, one held-out target per user (leave-last-out) unless said otherwise."""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping, Sequence
from functools import cache
from itertools import combinations

from rouge_score import rouge_scorer


def mean(values: Iterable[float]) -> float:
    """Arithmetic mean; 0.0 for no values (a metric over no users is reported with its count)."""
    listed = list(values)
    return sum(listed) / len(listed) if listed else 0.0


def hit_rate(predicted: Collection[str], target: str) -> float:
    """1.0 when the target (e.g. the target item's category) is among the predicted ones."""
    return 1.0 if target and target in predicted else 0.0


def recall_at_k(ranked: Sequence[str], relevant: Collection[str], k: int) -> float:
    """Share of the relevant ids found in the top k; with one target this is its hit at k."""
    if not relevant:
        return 0.0
    return len(set(ranked[:k]) & set(relevant)) / len(relevant)


def ndcg_at_k(ranked: Sequence[str], relevant: Collection[str], k: int) -> float:
    """Binary-relevance NDCG: DCG of the top k over the DCG of a perfect ranking."""
    if not relevant:
        return 0.0
    wanted = set(relevant)
    dcg = sum(1.0 / math.log2(rank + 2) for rank, item in enumerate(ranked[:k]) if item in wanted)
    ideal = sum(1.0 / math.log2(rank + 2) for rank in range(min(len(wanted), k)))
    return dcg / ideal


def exclusive_recall(hits: Sequence[bool], other_hits: Sequence[bool]) -> float:
    """Share of users whose target one route hit and the other did not (what it adds beyond the other)."""
    if len(hits) != len(other_hits):
        raise ValueError("both routes must be judged on the same users")
    if not hits:
        return 0.0
    return sum(1 for own, other in zip(hits, other_hits, strict=True) if own and not other) / len(hits)


@cache
def _rouge_l_scorer() -> rouge_scorer.RougeScorer:
    return rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)


def rouge_l(candidate: str, reference: str) -> float:
    """ROUGE-L F-measure by the reference implementation (`rouge-score`, as the papers report it):
    lower-cased ASCII letters and digits as tokens, no stemming; 0.0 when either text has no token."""
    score: float = _rouge_l_scorer().score(reference, candidate)["rougeL"].fmeasure
    return score


def diversity(texts_by_item: Mapping[str, Sequence[str]]) -> tuple[float, int, int]:
    """1 - mean ROUGE-L over pairs of texts about the same item, with the items and pairs it used.

    Items with fewer than two texts say nothing about diversity and are left out; no pairs gives 0.0.
    """
    scores: list[float] = []
    items = 0
    for texts in texts_by_item.values():
        if len(texts) < 2:
            continue
        items += 1
        scores.extend(rouge_l(a, b) for a, b in combinations(texts, 2))
    if not scores:
        return 0.0, 0, 0
    return 1.0 - mean(scores), items, len(scores)


def most_frequent(values: Iterable[str], k: int) -> list[str]:
    """The k most frequent non-empty values; ties go to the value seen first (pass most recent first)."""
    counts: dict[str, int] = {}
    for value in values:
        if value:
            counts[value] = counts.get(value, 0) + 1
    first_seen = {value: index for index, value in enumerate(counts)}
    return sorted(counts, key=lambda value: (-counts[value], first_seen[value]))[:k]
