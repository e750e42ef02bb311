"""Full-ranking metrics over the whole catalogue, one target per user, the user's own items left out."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

CUTOFFS = (10, 50)


def target_ranks(
    scores: npt.NDArray[np.float32], histories: Sequence[Sequence[int]], targets: Sequence[int]
) -> npt.NDArray[np.int64]:
    """0-based rank of each target among the items the user has not had (ties count against the target).

    As served, seen items are never recommended: a target the user already had is a miss (rank = items).
    """
    ranks = np.empty(len(targets), dtype=np.int64)
    for index, (row, history, target) in enumerate(zip(scores, histories, targets, strict=True)):
        seen = np.fromiter(set(history), dtype=np.int64)
        if target in set(history):
            ranks[index] = row.size
            continue
        beaten = row >= row[target]
        beaten[target] = False
        if seen.size:
            beaten[seen] = False
        ranks[index] = int(beaten.sum())
    return ranks


def metrics_from_ranks(ranks: npt.NDArray[np.int64], cutoffs: Sequence[int] = CUTOFFS) -> dict[str, float]:
    """recall@k and ndcg@k (binary relevance, one target) averaged over users."""
    out: dict[str, float] = {}
    users = max(len(ranks), 1)
    for k in cutoffs:
        hit = ranks < k
        out[f"recall@{k}"] = float(hit.sum()) / users
        out[f"ndcg@{k}"] = float(sum(1.0 / math.log2(rank + 2) for rank in ranks[hit])) / users
    return out
