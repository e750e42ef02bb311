"""Phases from the config history: a change of allocation starts one, other changes do not."""

from __future__ import annotations

import pytest

from experiments.allocation import reweight
from experiments.config import ExperimentConfig
from experiments.phases import Revision, UnknownExperiment, UnknownPhase, plan_phases
from tests.experiments.configs import config, two_arms


def with_experiment(base: ExperimentConfig, **changes: object) -> ExperimentConfig:
    layer = base.layers[0]
    changed = layer.experiments[0].model_copy(update=changes)
    return base.model_copy(update={"layers": [layer.model_copy(update={"experiments": [changed]})]})


def test_allocation_changes_start_phases_and_other_changes_do_not() -> None:
    base = config(two_arms())
    experiment = base.layers[0].experiments[0]
    history = [
        Revision(1, 1000, base),
        Revision(2, 2000, with_experiment(base, description="renamed", enabled=False)),
        Revision(
            3, 3000, with_experiment(base, arms=reweight(experiment, {"control": 0.3, "treatment": 0.7}).arms)
        ),
        Revision(4, 4000, config()),  # removed for a while
        Revision(
            5, 5000, with_experiment(base, arms=reweight(experiment, {"control": 0.3, "treatment": 0.7}).arms)
        ),
        Revision(6, 6000, with_experiment(base, version=2)),
    ]

    plan = plan_phases("exp-a", reversed(history))

    assert [(p.first_revision, p.last_revision, p.started_ms, p.ended_ms) for p in plan.phases] == [
        (1, 2, 1000, 3000),
        (3, 5, 3000, 6000),
        (6, 6, 6000, None),
    ]
    assert plan.phases[1].weights == {"control": 0.3, "treatment": 0.7}
    assert [plan.of_revision(r).number for r in (1, 2, 3, 4, 5, 6)] == [1, 1, 2, 2, 2, 3]  # type: ignore[union-attr]
    assert plan.of_revision(7) is None and plan.of_revision(0) is None
    assert plan.get(None).number == 3 and plan.get(1).number == 1
    with pytest.raises(UnknownPhase):
        plan.get(4)


def test_the_serving_config_counts_when_the_history_lacks_it() -> None:
    plan = plan_phases("exp-a", [], Revision(0, None, config(two_arms())))

    assert [(p.first_revision, p.started_ms) for p in plan.phases] == [(0, None)]
    assert plan.of_revision(0) is plan.phases[0]


def test_an_experiment_never_configured_is_unknown() -> None:
    with pytest.raises(UnknownExperiment):
        plan_phases("ghost", [Revision(1, 0, config(two_arms()))])
