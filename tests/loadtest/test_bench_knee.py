"""The knee bench's comparisons: which gateways each needs, that they differ in the compared setting only,
and the side-by-side report with the difference in %."""

from __future__ import annotations

import pytest

from loadtest import bench_knee
from loadtest.bench_gateway import AUTH_ENV
from loadtest.bench_knee import AUTH_OFF, BARE, COMPARISONS, COOCCURRENCE, OFF, ON, configurations_of
from loadtest.knee import Knee


def test_auth_is_compared_on_two_gateways_one_setting_apart() -> None:
    by_name = {configuration.name: configuration for configuration in configurations_of(["auth"])}

    assert set(by_name) == {OFF, AUTH_OFF}
    on, off = by_name[COMPARISONS["auth"].on], by_name[COMPARISONS["auth"].off]
    assert on.overrides[AUTH_ENV] == "on" and off.overrides[AUTH_ENV] == "off"
    assert {k: v for k, v in on.overrides.items() if k != AUTH_ENV} == {
        k: v for k, v in off.overrides.items() if k != AUTH_ENV
    }


def test_both_comparisons_measure_the_shared_gateway_once() -> None:
    names = [configuration.name for configuration in configurations_of(["experiments", "auth"])]

    assert names == [OFF, ON, AUTH_OFF]


def test_the_report_puts_each_comparisons_knees_side_by_side(capsys: pytest.CaptureFixture[str]) -> None:
    args = bench_knee.parse_args(["--stack", "var/run/stack.json", "--compare", "auth", "experiments"])
    knees = {OFF: Knee(rate=800.0), ON: Knee(rate=760.0), AUTH_OFF: Knee(rate=850.0), BARE: Knee(rate=2000.0)}

    line = bench_knee.report(args, knees, {})

    auth = line["comparisons"]["auth"]
    assert auth["on"] == {"configuration": OFF, "knee_rate": 800.0}
    assert auth["off"] == {"configuration": AUTH_OFF, "knee_rate": 850.0}
    assert auth["difference_pct"] == pytest.approx(-5.9)
    assert line["comparisons"]["experiments"]["difference_pct"] == pytest.approx(-5.0)
    assert line["on_vs_off"] == 0.95
    printed = capsys.readouterr().out
    assert "auth on / off (experiments off): on 800.0/s" in printed and "difference -5.9%" in printed


def test_a_comparison_missing_a_knee_is_said_not_compared(capsys: pytest.CaptureFixture[str]) -> None:
    args = bench_knee.parse_args(["--stack", "var/run/stack.json", "--compare", "auth"])

    line = bench_knee.report(args, {OFF: Knee(rate=800.0)}, {})

    assert line["comparisons"] == {}
    assert "not compared" in capsys.readouterr().out


def test_the_route_comparison_differs_only_by_the_retrieval_behind_the_gateway() -> None:
    by_name = {configuration.name: configuration for configuration in configurations_of(["route"])}

    assert set(by_name) == {OFF, COOCCURRENCE}
    platform, cooccurrence = by_name[COMPARISONS["route"].on], by_name[COMPARISONS["route"].off]
    assert platform.overrides == cooccurrence.overrides
    assert cooccurrence.without_towers and not platform.without_towers


def test_warming_up_is_a_knee_setting_off_by_default() -> None:
    assert not bench_knee.parse_args(["--stack", "s.json"]).warm_up_users
    assert bench_knee.parse_args(["--stack", "s.json", "--warm-up-users"]).warm_up_users
