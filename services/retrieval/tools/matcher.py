"""Matcher tool: soft positives, as the items' best similarity to the wanted texts and items."""

from __future__ import annotations

from recgpt_domain.preferences import Preferences
from retrieval.tools.base import PlanState
from retrieval.tools.registry import register
from retrieval.tools.scoring import BEHAVIOUR_WEIGHT, MATCH_WEIGHT
from retrieval.tools.similarity import best_similarity


class MatcherTool:
    name = "matcher"
    stage = 20

    def needed(self, preferences: Preferences) -> bool:
        return bool(preferences.soft_positive or preferences.soft_positive_items)

    async def run(self, state: PlanState) -> dict[str, str]:
        prefs = state.preferences
        state.match = await best_similarity(state, prefs.soft_positive, prefs.soft_positive_items)
        return {
            "texts": "; ".join(prefs.soft_positive),
            "items": "; ".join(prefs.soft_positive_items),
            "blend": f"{MATCH_WEIGHT} similarity + {BEHAVIOUR_WEIGHT} behaviour",
        }


register(MatcherTool())
