"""A report built by the real report code from synthetic streams, for the page tests."""

from __future__ import annotations

from typing import Any

import numpy as np

from experiments.config import ExperimentConfig


def sample_report() -> dict[str, Any]:
    """Report-shaped data without Redis: the same `_assemble` path on users built in memory."""
    from experiments import report as report_module

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
    layer, experiment = config.layers[0], config.layers[0].experiments[0]
    rng = np.random.default_rng(0)
    users: dict[str, Any] = {}
    for i in range(400):
        arm = "control" if i % 2 else "treatment"
        user = report_module._User(arms={arm})
        for step in range(5):
            ts = 1_000_000 + step * 60_000 + i
            user.impressions += 10
            user.trail.append((ts, 10, 0))
            clicks = int(rng.binomial(10, 0.05 if arm == "control" else 0.08))
            user.clicks += clicks
            user.trail.append((ts, 0, clicks))
        users[f"u{i}"] = user
    guard = report_module._Guardrail(latencies=[5.0, 7.0, 30.0])
    return report_module._assemble(
        layer,
        experiment,
        1,
        users,
        {"control": guard, "treatment": guard},
        {"forced": set(), "override": set()},
        False,
    )
