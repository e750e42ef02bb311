"""What RecBot's tools share: the state a plan works on, and the interface a tool implements.

A tool says whether the preferences need it and which stage it runs at, and works on `PlanState` in place:
the behaviour score, the allowed mask, the match and penalty scores, and the final ranking.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import numpy.typing as npt

from recgpt.common.v1 import common_pb2
from recgpt_domain.preferences import Preferences
from retrieval.retriever import Retriever
from retrieval.tools.attributes import FeedAttributes

Floats = npt.NDArray[np.float32]
Mask = npt.NDArray[np.bool_]


@dataclass
class PlanState:
    retriever: Retriever
    attributes: FeedAttributes
    preferences: Preferences
    top_k: int
    # The user's most recent items (rows), most recent first, and every row they have seen.
    recent_rows: list[int]
    seen_rows: list[int]
    exclude_rows: list[int]
    # A variant's own ranking to use as the behaviour score (empty: co-occurrence).
    base: list[common_pb2.ScoredItem]
    behaviour: Floats = field(default_factory=lambda: np.zeros(0, dtype=np.float32))
    allowed: Mask = field(default_factory=lambda: np.zeros(0, dtype=np.bool_))
    match: Floats | None = None
    penalty: Floats | None = None
    final: Floats | None = None
    # Rows best first, and the route each is reported under.
    ranked: list[int] = field(default_factory=list)
    routes: dict[int, str] = field(default_factory=dict)


class Tool(Protocol):
    name: str
    # Tools run in stage order: behaviour 0, filter 10, matcher 20, attenuator 30, aggregator 90.
    stage: int

    def needed(self, preferences: Preferences) -> bool: ...

    async def run(self, state: PlanState) -> dict[str, str]:
        """Does its part on the state; returns what it did, for the plan in the response."""
        ...
