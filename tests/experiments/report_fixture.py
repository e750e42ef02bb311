"""A report built by the real report code from synthetic per-user tallies, for the page tests."""

from __future__ import annotations

from typing import Any

import numpy as np

from experiments import figures
from experiments.config import ExperimentConfig
from experiments.phases import Revision, plan_phases
from experiments.tally import ExperimentTally, Guardrail, UserTally, phase_tally


def sample_report() -> dict[str, Any]:
    """Report-shaped data without Redis: the same `figures.assemble` on users tallied in memory."""
    config = ExperimentConfig.model_validate(
        {
            "layers": [
                {
                    "name": "pipeline",
                    "salt": "s",
                    "experiments": [
                        {
                            "id": "demo",
                            "control": "control",
                            "arms": [
                                {"name": "control", "buckets": [{"start": 0, "end": 5000}]},
                                {"name": "treatment", "buckets": [{"start": 5000, "end": 10000}]},
                            ],
                        }
                    ],
                }
            ]
        }
    )
    plan = plan_phases("demo", [Revision(1, 1_000_000, config)])
    tally = ExperimentTally("demo")
    rng = np.random.default_rng(0)
    for i in range(400):
        arm = "control" if i % 2 else "treatment"
        user = tally.users[f"u{i}"] = UserTally(arm, first=1, phases={1})
        for step in range(5):
            ts = 1_000_000 + step * 60_000 + i
            user.impressions += 10
            user.trail.append((ts, 10, 0))
            clicks = int(rng.binomial(10, 0.05 if arm == "control" else 0.08))
            user.clicks += clicks
            user.trail.append((ts, 0, clicks))
    for arm in ("control", "treatment"):
        guard = tally.guardrails[1, arm] = Guardrail()
        for latency in (5.0, 7.0, 30.0):
            guard.add_latency(latency)
    return figures.assemble(phase_tally(tally, plan, plan.get(None)), 1, 2_000_000)
