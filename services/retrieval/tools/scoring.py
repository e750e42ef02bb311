"""How the tools weigh their scores (RecBot: semantic similarity blended with the behaviour-based score)."""

from __future__ import annotations

# The final score with soft positives: MATCH_WEIGHT * similarity + BEHAVIOUR_WEIGHT * behaviour.
MATCH_WEIGHT = 0.7
BEHAVIOUR_WEIGHT = 0.3
# Popularity's share of the behaviour score (the rest is co-occurrence with the user's recent items).
POPULARITY_SHARE = 0.1
# Soft negatives: similarity above the threshold costs up to ATTENUATION of the score.
ATTENUATION = 0.6
ATTENUATION_THRESHOLD = 0.35
