"""The knee bench's "experiments on" config: the repository's experiments, valid, as an A/A test."""

from __future__ import annotations

from typing import get_args

import yaml  # type: ignore[import-untyped]

from experiments.config import ExperimentConfig, check
from gateway.schemas import Variant
from loadtest.bench_gateway import EXPERIMENTS_FILE, a_a_config


def test_the_bench_runs_every_experiment_with_its_control_arms_parameters() -> None:
    original = yaml.safe_load(EXPERIMENTS_FILE.read_text())

    config = ExperimentConfig.model_validate(a_a_config(original))

    check(config, get_args(Variant))  # still a config the gateway takes
    experiments = [experiment for layer in config.layers for experiment in layer.experiments]
    assert experiments and all(experiment.enabled for experiment in experiments)
    for experiment in experiments:
        control = next(arm for arm in experiment.arms if arm.name == experiment.control)
        assert all(arm.params == control.params for arm in experiment.arms)
    # The repository's file is read, not changed: its treatment arms still differ.
    assert a_a_config(original) != original
