"""How a cross-fitted choice of fusion weights scored across folds of validation users (the artefact keeps it
for the weighted fusion, recgpt-v1's beta and the ranker's beta alike)."""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, Field


class FusionSpread(BaseModel):
    """How one cross-fitted choice scored across folds of validation users (R@10 + R@50 each).

    `per_fold`: the chosen weights' score on each fold. `held_out`: for each fold, the score of the weights
    the same rule chose on the other folds (named in `held_out_choices`): an honest estimate of the rule,
    and how far its choice moves when a fifth of the users changes.
    """

    choice: str
    per_fold: list[float]
    held_out: list[float] = Field(default_factory=list)
    held_out_choices: list[str] = Field(default_factory=list)
    # Where the rule's pick departed from a default: its per-user gain over it and that gain's standard
    # error, and the pick itself when the gain was too small and the default stood (`choice` then).
    gain: float | None = None
    gain_standard_error: float | None = None
    not_significant: str | None = None

    @property
    def mean(self) -> float:
        return float(np.mean(self.per_fold)) if self.per_fold else 0.0

    @property
    def std(self) -> float:
        return float(np.std(self.per_fold)) if self.per_fold else 0.0
