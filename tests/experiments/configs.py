"""Configs the experiment tests build on."""

from __future__ import annotations

from typing import Any

from experiments.config import ExperimentConfig

VARIANTS = ["baseline", "recgpt-v1"]


def two_arms(experiment_id: str = "exp-a", split: int = 5000, **experiment: Any) -> dict[str, Any]:
    return {
        "id": experiment_id,
        "control": "control",
        "arms": [
            {"name": "control", "params": {"variant": "baseline"}, "buckets": [{"start": 0, "end": split}]},
            {
                "name": "treatment",
                "params": {"variant": "recgpt-v1"},
                "buckets": [{"start": split, "end": 10000}],
            },
        ],
        **experiment,
    }


def config(*experiments: dict[str, Any], **extra: Any) -> ExperimentConfig:
    return ExperimentConfig.model_validate(
        {"layers": [{"name": "pipeline", "salt": "salt-1", "experiments": list(experiments)}], **extra}
    )
