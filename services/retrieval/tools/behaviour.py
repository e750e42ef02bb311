"""Behaviour tool: the sequential score every plan starts from (co-occurrence with the user's recent items and
popularity, or a pipeline variant's own ranking when one is given), scaled to [0, 1]."""

from __future__ import annotations

import numpy as np

from recgpt_domain.preferences import Preferences
from retrieval.tools.base import PlanState
from retrieval.tools.registry import register
from retrieval.tools.scoring import POPULARITY_SHARE


class BehaviourTool:
    name = "behaviour"
    stage = 0

    def needed(self, preferences: Preferences) -> bool:
        return True

    async def run(self, state: PlanState) -> dict[str, str]:
        retriever = state.retriever
        size = state.attributes.size
        popularity = retriever.cooccurrence.popularity.astype(np.float32)
        popularity = popularity / max(float(popularity.max(initial=0.0)), 1.0)
        if state.base:
            score = np.zeros(size, dtype=np.float32)
            rows = retriever.table.rows_for([scored.item.item_id for scored in state.base])
            for rank, row in enumerate(rows):
                score[row] = max(score[row], 1.0 - rank / max(len(rows), 1))
                state.routes[row] = state.base[rank].route if rank < len(state.base) else "feed"
            state.behaviour = (1 - POPULARITY_SHARE) * score + POPULARITY_SHARE * popularity
            return {"source": "variant ranking", "items": str(len(rows))}
        co = np.zeros(size, dtype=np.float32)
        if state.recent_rows:
            neighbours, scores = retriever.cooccurrence.recommend(state.recent_rows, retriever.recency_decay)
            if neighbours.size:
                co[neighbours] = scores / max(float(scores.max()), 1e-9)
        state.behaviour = (1 - POPULARITY_SHARE) * co + POPULARITY_SHARE * popularity
        source = "co-occurrence with recent items" if state.recent_rows else "popularity (no history)"
        return {"source": source, "recent_items": str(len(state.recent_rows))}


register(BehaviourTool())
