"""The interface every pipeline variant implements, so the HTTP layer never depends on one variant."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from gateway.schemas import ProfileState, RecommendedItem, RecommendRequest
from recgpt_domain.preferences import Versioned


@dataclass(slots=True)
class Recommendation:
    items: list[RecommendedItem]
    cold_start: bool = False
    # Names of the dependencies that failed; the items came without them.
    degraded: list[str] = field(default_factory=list)
    # Variants that read an LLM profile say whether they found it; None for the others.
    profile: ProfileState | None = None
    # The user's feed preferences when retrieval read them with the behaviour; None: not read here.
    preferences: Versioned | None = None


class PipelineUnavailable(Exception):
    """No route could answer: the gateway says so with a 503 instead of an empty or partial page."""

    def __init__(self, reason: str, degraded: list[str]) -> None:
        super().__init__(reason)
        self.reason = reason
        self.degraded = degraded


class Pipeline(Protocol):
    # The variant name reported in responses and used as an experiment arm.
    name: str

    async def recommend(self, request: RecommendRequest) -> Recommendation:
        """Items for the request; raises PipelineUnavailable when no route answered."""
        ...
