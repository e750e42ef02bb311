"""An A/A whose weights move from 50/50 to 30/70 mid-way, through the project's own reweight, Assigner and
report: no phase shows a lift or a sample ratio mismatch. The 200-seed, 40,000-user measurement is
`python -m experiments.aa_simulation` (docs/experiments.md gives its figures); this is its quick version."""

from __future__ import annotations

from experiments import aa_simulation
from experiments.aa_simulation import METRICS, reports, significant, simulate


def test_no_phase_of_a_reweighted_aa_shows_a_lift_or_a_mismatch() -> None:
    for seed in range(6):
        phases = list(reports(simulate(seed, users=6000)))

        assert [r["phase"]["weights"]["control"] for r in phases] == [0.5, 0.3]
        # The reweight moved users who came back: they stay in phase 1, counted in phase 2.
        assert phases[1]["excluded_users"]["first_exposed_in_an_earlier_phase"] > 0
        for report in phases:
            assert not report["srm"]["mismatch"], (seed, report["srm"])
            for metric in METRICS:
                found = significant(report, metric)
                assert not found["always_valid_ci"] and not found["always_valid_p"], (seed, metric)


def test_the_measurement_reports_rates_per_phase_metric_and_test() -> None:
    result = aa_simulation.false_positive_rates(range(2), 2000)

    assert result["seeds"] == 2
    assert result["rates"]["any_phase:clicks_per_user:always_valid_ci"] == 0.0
    assert {"phase1:srm", "phase2:srm", "any_phase:ctr:fixed_horizon"} <= set(result["rates"])
