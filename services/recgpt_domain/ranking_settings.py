"""How serving ranks, declared once: the gateway serves with it, the near-line job builds profiles for it and
the evaluation measures it, so that what is measured is what is served.

Read from the environment with the `RECGPT_` prefix (e.g. `RECGPT_RECGPT_V1_BETA`); each process that ranks
or measures extends or reads this class instead of declaring the same fields again.
"""

from __future__ import annotations

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class RankingSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="RECGPT_", extra="ignore", frozen=True, populate_by_name=True, protected_namespaces=()
    )

    # How many of the user's most recent items seed the collaborative and content routes.
    recent_items: int = Field(default=20, ge=1, le=200)
    # Baseline fusion weights of the routes' normalised scores.
    collaborative_weight: float = Field(default=0.6, ge=0)
    content_weight: float = Field(default=0.4, ge=0)
    # RecGPT-V1 fused score: beta * (the baseline's fusion) + (1 - beta) * tag route; 1 is the baseline.
    # Served when no towers artefact says otherwise (an artefact's validation folds choose it, 1 allowed).
    # 0.9: what those folds chose on every split of Amazon Scientific (0.85-0.90); at 0.5 the tag route's
    # flat scores crowded the baseline's items out (R@10 0.069 against 0.117 on unseen users).
    recgpt_v1_beta: float = Field(default=0.9, ge=0, le=1)
    # When the learned route answers, fuse with the weights its artefact chose on its validation slice
    # (above three are for co-occurrence); false keeps the three above for every answer.
    towers_fusion: bool = True
    # Profile tags searched per request (also the K of the evaluation's tag HR@K), and the items each tag
    # may bring at most.
    tag_route_max_tags: int = Field(default=24, ge=1, le=64)
    tag_route_per_tag_k: int = Field(default=10, ge=1, le=500)
    # What a RecGPT-V1 profile is built from: interests and tags asked of the agents; 0 leaves the count
    # to the agent service's own default.
    max_interests: int = Field(default=0, ge=0)
    max_tags: int = Field(default=0, ge=0)

    @model_validator(mode="after")
    def _weights_fuse(self) -> RankingSettings:
        if self.collaborative_weight + self.content_weight <= 0:
            raise ValueError("collaborative_weight + content_weight must be positive")
        return self
