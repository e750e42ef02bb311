"""Aggregator tool: the final score (behaviour, blended with the match, less the penalty) of allowed items."""

from __future__ import annotations

import numpy as np

from recgpt_domain.preferences import Preferences
from retrieval.tools.base import PlanState
from retrieval.tools.registry import register
from retrieval.tools.scoring import BEHAVIOUR_WEIGHT, MATCH_WEIGHT


class AggregatorTool:
    name = "aggregator"
    stage = 90

    def needed(self, preferences: Preferences) -> bool:
        return True

    async def run(self, state: PlanState) -> dict[str, str]:
        final = state.behaviour.copy()
        if state.match is not None:
            final = MATCH_WEIGHT * state.match + BEHAVIOUR_WEIGHT * state.behaviour
        if state.penalty is not None:
            final = final - state.penalty
        state.final = final.astype(np.float32)
        candidates = np.flatnonzero(state.allowed)
        if candidates.size > state.top_k:
            top = np.argpartition(-final[candidates], state.top_k - 1)[: state.top_k]
            candidates = candidates[top]
        order = np.lexsort((candidates, -final[candidates]))
        state.ranked = candidates[order].tolist()
        return {"allowed": str(int(state.allowed.sum())), "returned": str(len(state.ranked))}


register(AggregatorTool())
