"""A phase's figures against independent computations: CUPED with one theta pooled over the arms, which
p-values to read when, and the timeline's always-valid bands."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np

from experiments import figures
from experiments.phases import Revision, plan_phases
from tests.experiments.configs import config, two_arms
from tests.experiments.report_fixture import sample_report

START = datetime(2026, 11, 28, tzinfo=UTC)


def test_cuped_uses_one_theta_pooled_over_the_arms() -> None:
    rng = np.random.default_rng(6)
    # The arms' own slopes differ (0.5 and 1.5): a per-arm theta would give other figures.
    columns = {}
    for arm, slope, shift in (("control", 0.5, 0.0), ("treatment", 1.5, 0.3)):
        pre = rng.poisson(3, 4000).astype(float)
        columns[arm] = {"clicks": slope * pre + shift + rng.normal(0, 1, 4000), "pre_clicks": pre}
    clicks = np.concatenate([c["clicks"] for c in columns.values()])
    pre = np.concatenate([c["pre_clicks"] for c in columns.values()])
    theta = np.polyfit(pre, clicks, 1)[0]  # least squares slope, computed apart from the code under test

    found = figures.cuped_estimates(columns)

    for arm, c in columns.items():
        adjusted = c["clicks"] - theta * (c["pre_clicks"] - pre.mean())
        assert math.isclose(found[arm].value, adjusted.mean(), rel_tol=1e-9)
        assert math.isclose(found[arm].se, adjusted.std(ddof=1) / math.sqrt(len(adjusted)), rel_tol=1e-9)
        own_theta = np.polyfit(c["pre_clicks"], c["clicks"], 1)[0]
        assert not math.isclose(
            found[arm].value, (c["clicks"] - own_theta * (c["pre_clicks"] - pre.mean())).mean()
        )


def test_fixed_horizon_figures_are_read_only_at_the_planned_stop() -> None:
    stop = START + timedelta(days=14)
    planned = plan_phases("exp-a", [Revision(1, 0, config(two_arms(start=START, stop=stop)))]).get(None)
    open_ended = plan_phases("exp-a", [Revision(1, 0, config(two_arms(start=START)))]).get(None)
    stop_ms = int(stop.timestamp() * 1000)

    assert figures.reading(planned, stop_ms - 1)["read"] == "always_valid"
    assert figures.reading(planned, stop_ms)["read"] == "fixed_horizon"
    assert figures.reading(open_ended, stop_ms)["read"] == "always_valid"


def test_the_timeline_carries_always_valid_bands_around_the_fixed_ones() -> None:
    report = sample_report()

    points = report["timeline"]
    assert len(points) == figures.TIMELINE_POINTS
    for point in points:
        lift = point["ctr_lift"]["treatment"]
        assert set(point["ctr"]) == {"control", "treatment"}
        assert lift["sequential_ci"][0] < lift["ci"][0] <= lift["absolute"] <= lift["ci"][1]
        assert lift["ci"][1] < lift["sequential_ci"][1]
    assert report["lift"]["treatment"]["ctr"]["always_valid_p_value"] is not None
    assert report["reading"]["read"] == "always_valid"
