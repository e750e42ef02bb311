"""Attenuator tool: soft negatives, as a penalty growing with an item's similarity to what is not wanted."""

from __future__ import annotations

import numpy as np

from recgpt_domain.preferences import Preferences
from retrieval.tools.base import PlanState
from retrieval.tools.registry import register
from retrieval.tools.scoring import ATTENUATION, ATTENUATION_THRESHOLD
from retrieval.tools.similarity import best_similarity


class AttenuatorTool:
    name = "attenuator"
    stage = 30

    def needed(self, preferences: Preferences) -> bool:
        return bool(preferences.soft_negative or preferences.soft_negative_items)

    async def run(self, state: PlanState) -> dict[str, str]:
        prefs = state.preferences
        similarity = await best_similarity(state, prefs.soft_negative, prefs.soft_negative_items)
        excess = np.clip(similarity - ATTENUATION_THRESHOLD, 0.0, None) / (1.0 - ATTENUATION_THRESHOLD)
        state.penalty = (ATTENUATION * excess).astype(np.float32)
        return {
            "texts": "; ".join(prefs.soft_negative),
            "items": "; ".join(prefs.soft_negative_items),
            "penalised_items": str(int((state.penalty > 0).sum())),
        }


register(AttenuatorTool())
