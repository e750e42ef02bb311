"""Assignment: stable, weighted, independent layers, holdout, forced arms, kill switch, version, weights."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from experiments.allocation import reweight
from experiments.assignment import Assigner, arm_salt, bucket
from experiments.config import ExperimentConfig
from tests.experiments.configs import config, two_arms

NOW = datetime(2026, 11, 28, 12, tzinfo=UTC)
USERS = [f"user-{i}" for i in range(20_000)]


def arms_of(assigner: Assigner, users: list[str] = USERS) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for user in users:
        found = assigner.assign(user, NOW).arms
        out[user] = found[0].arm if found else None
    return out


def test_same_user_same_arm_and_shares_follow_weights() -> None:
    assigner = Assigner(config(two_arms(split=2000)))
    first = arms_of(assigner)
    assert first == arms_of(Assigner(config(two_arms(split=2000))))
    share = Counter(first.values())["control"] / len(USERS)
    assert abs(share - 0.2) < 0.015


def test_arm_sets_the_pipeline_params() -> None:
    assigner = Assigner(config(two_arms()))
    params = {assigner.assign(user, NOW).params.variant for user in USERS[:200]}
    assert params == {"baseline", "recgpt-v1"}


def test_layers_are_independent() -> None:
    layered = ExperimentConfig.model_validate(
        {
            "layers": [
                {"name": "one", "salt": "s1", "experiments": [two_arms("a")]},
                {
                    "name": "two",
                    "salt": "s2",
                    "experiments": [
                        {
                            **two_arms("b"),
                            "arms": [
                                {
                                    "name": "control",
                                    "params": {"n": 5},
                                    "buckets": [{"start": 0, "end": 5000}],
                                },
                                {
                                    "name": "treatment",
                                    "params": {"n": 20},
                                    "buckets": [{"start": 5000, "end": 10000}],
                                },
                            ],
                        }
                    ],
                },
            ]
        }
    )
    assigner = Assigner(layered)
    pairs = Counter(tuple(a.arm for a in assigner.assign(u, NOW).arms) for u in USERS)
    # Each of the four combinations holds a quarter of the users when the layers do not correlate.
    assert len(pairs) == 4
    for count in pairs.values():
        assert abs(count / len(USERS) - 0.25) < 0.015


def test_namespaced_experiments_never_share_a_user() -> None:
    first = two_arms("first", layer_buckets=[{"start": 0, "end": 3000}])
    second = two_arms("second", layer_buckets=[{"start": 3000, "end": 10000}])
    assigner = Assigner(config(first, second))
    seen = Counter(a.experiment for u in USERS for a in assigner.assign(u, NOW).arms)
    assert sum(seen.values()) == len(USERS)
    assert abs(seen["first"] / len(USERS) - 0.3) < 0.015


def test_holdout_forced_kill_switch_and_time_window() -> None:
    held = Assigner(config(two_arms(forced={"qa-1": "treatment"}), holdout={"buckets": 1000}))
    assignments = [held.assign(u, NOW) for u in USERS]
    share = sum(a.holdout for a in assignments) / len(USERS)
    assert abs(share - 0.1) < 0.01
    assert all(not a.arms for a in assignments if a.holdout)
    forced = held.assign("qa-1", NOW)
    assert forced.arms[0].arm == "treatment" and forced.arms[0].forced
    assert forced.label() == "exp-a:treatment*"
    killed = Assigner(config(two_arms(enabled=False, forced={"qa-1": "treatment"})))
    assert not killed.assign("qa-1", NOW).arms and not killed.assign("user-1", NOW).arms
    later = Assigner(config(two_arms(start=NOW + timedelta(hours=1))))
    assert not later.assign("user-1", NOW).arms
    over = Assigner(config(two_arms(stop=NOW - timedelta(seconds=1))))
    assert not over.assign("user-1", NOW).arms


def test_version_bump_rerandomises() -> None:
    before = arms_of(Assigner(config(two_arms(version=1))))
    after = arms_of(Assigner(config(two_arms(version=2))))
    moved = sum(before[u] != after[u] for u in USERS) / len(USERS)
    assert abs(moved - 0.5) < 0.02


@pytest.mark.parametrize("new_control", [0.3, 0.7])
def test_reweight_moves_only_the_shifted_share(new_control: float) -> None:
    original = config(two_arms(split=5000))
    experiment = original.layers[0].experiments[0]
    changed = reweight(experiment, {"control": new_control, "treatment": 1 - new_control})
    assert abs(changed.arms[0].weight - new_control) < 1e-9
    before = arms_of(Assigner(original))
    after = arms_of(Assigner(config(changed.model_dump())))
    moved = [u for u in USERS if before[u] != after[u]]
    assert abs(len(moved) / len(USERS) - abs(new_control - 0.5)) < 0.015
    grower = "control" if new_control > 0.5 else "treatment"
    # Nobody leaves the arm that grew.
    assert all(before[u] != grower for u in moved)


def test_bucket_values_are_pinned() -> None:
    """The hash input (salt, unit separator, user id) and the arm salt decide every user's arm: changing
    either moves users between arms of running experiments, so it must fail here first."""
    assert [bucket("salt-1", user) for user in ("user-1", "user-2", "u-42")] == [2036, 4031, 198]
    assert bucket("global-holdout", "user-1") == 4494
    experiment = config(two_arms()).layers[0].experiments[0]
    assert arm_salt("salt-1", experiment) == "salt-1/exp-a/v1"
    assigner = Assigner(config(two_arms()))
    assert [bucket("salt-1/exp-a/v1", u) for u in ("user-1", "user-2", "user-3")] == [1065, 2745, 8976]
    assert [assigner.assign(u, NOW).label() for u in ("user-1", "user-3")] == [
        "exp-a:control",
        "exp-a:treatment",
    ]
