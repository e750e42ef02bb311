"""The knee of a server: the highest open-loop rate it holds with p99 <= a target and zero errors.

The search steps the rate up by a factor until a step fails, then bisects between the last rate that held
and the first that did not, until they are within `resolution` of each other. A step holds when p99 is
within the target, no request failed, and the sender achieved the rate it was asked for (else the client,
not the server, was measured); a rate fails when every one of its tries (1 + `retries`) fails.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class KneeSettings:
    start_rate: float = 100.0
    growth: float = 1.5
    max_rate: float = 4000.0
    # Bisect until fail / pass <= 1 + resolution.
    resolution: float = 0.1
    target_p99_ms: float = 50.0
    # The achieved share of the asked rate below which the step counts as failed (client-bound).
    min_achieved_share: float = 0.95
    # A failing rate is measured again this many times and fails only if every try fails: on a shared
    # machine one stall of another process can push the p99 of a short step over the target.
    retries: int = 1


@dataclass(frozen=True)
class Step:
    rate: float
    p99_ms: float
    errors: int
    achieved_rate: float
    # The errors by kind (status code or exception name): what failed a step, not only that one did.
    error_kinds: Mapping[str, int] = field(default_factory=dict)

    def holds(self, settings: KneeSettings) -> bool:
        return (
            self.p99_ms <= settings.target_p99_ms
            and self.errors == 0
            and self.achieved_rate >= settings.min_achieved_share * self.rate
        )


@dataclass
class Knee:
    """The search's result: `rate` is the highest rate that held (0: none did), with every step taken."""

    steps: list[Step] = field(default_factory=list)
    rate: float = 0.0
    first_failing: float | None = None

    def summary(self) -> dict[str, Any]:
        return {
            "knee_rate": round(self.rate, 1),
            "first_failing_rate": None if self.first_failing is None else round(self.first_failing, 1),
            "steps": [
                {
                    "rate": round(s.rate, 1),
                    "p99_ms": s.p99_ms,
                    "errors": s.errors,
                    "error_kinds": dict(s.error_kinds),
                    "achieved": s.achieved_rate,
                }
                for s in self.steps
            ],
        }


Measure = Callable[[float], Awaitable[Step]]


async def search(measure: Measure, settings: KneeSettings) -> Knee:
    """Steps up, then bisects; `measure(rate)` runs one fixed-rate step."""
    knee = Knee()

    async def holds(rate: float) -> bool:
        for _ in range(1 + settings.retries):
            step = await measure(rate)
            knee.steps.append(step)
            if step.holds(settings):
                return True
        return False

    rate = settings.start_rate
    while rate <= settings.max_rate:
        if not await holds(rate):
            knee.first_failing = rate
            break
        knee.rate = rate
        rate *= settings.growth
    if knee.first_failing is None:
        return knee
    low, high = knee.rate, knee.first_failing
    # With no rate held, bisect down from the start towards zero.
    while low == 0.0 or high / low > 1 + settings.resolution:
        middle = (low + high) / 2 if low else high / 2
        if middle < 1.0:
            break
        if await holds(middle):
            low = knee.rate = middle
        else:
            high = knee.first_failing = middle
    return knee
