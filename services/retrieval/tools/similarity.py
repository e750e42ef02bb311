"""The best cosine similarity of every item to a set of query texts and items (vectors are normalised)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from retrieval.tools.base import Floats, PlanState


async def best_similarity(state: PlanState, texts: Sequence[str], item_ids: Sequence[str]) -> Floats:
    retriever = state.retriever
    parts = []
    if texts:
        parts.append(await retriever.embed(list(texts)))
    rows = retriever.table.rows_for(item_ids)
    if rows:
        parts.append(retriever.vectors[np.asarray(rows, dtype=np.int64)])
    if not parts:
        return np.zeros(state.attributes.size, dtype=np.float32)
    queries = np.concatenate(parts).astype(np.float32, copy=False)
    scores: Floats = (retriever.vectors @ queries.T).max(axis=1).astype(np.float32)
    return scores
