"""An A/A experiment whose weights move mid-way (50/50 to 30/70), through the project's own `reweight`,
`Assigner` and report: how often the report finds a lift that is not there.

Users differ in how often they come (gamma) and how often they click (beta, higher for frequent users), as
real users do; no arm changes anything. Before phases, the report pooled both spans and dropped the users
seen in both arms (the frequent ones of the shrinking arm), and found a lift; by phase, it should find one
no more often than its level allows.

python -m experiments.aa_simulation --seeds 200 --users 40000
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np

from experiments import figures
from experiments.allocation import reweight
from experiments.assignment import Assigner
from experiments.config import ExperimentConfig
from experiments.phases import Revision, plan_phases
from experiments.tally import ExperimentTally, phase_tally

EXPERIMENT = "aa"
DAY_MS = 86_400_000
T0_MS = 1_795_000_000_000
IMPRESSIONS_PER_VISIT = 2
# Gamma shape of how often users come: below 1, a few come very often and most rarely.
ACTIVITY_SHAPE = 0.5
METRICS = ("clicks_per_user", "ctr")


@dataclass(frozen=True)
class Streams:
    """What the gateway would have stored: the config history, exposures and events, oldest first."""

    history: list[Revision]
    exposures: list[dict[str, str]]
    events: list[dict[str, str]]


def aa_config(salt: str, weights: dict[str, float] | None = None) -> ExperimentConfig:
    """Two arms that change nothing, split 50/50 (or by `weights`, moving as few users as `reweight` does)."""
    config = ExperimentConfig.model_validate(
        {
            "layers": [
                {
                    "name": "pipeline",
                    "salt": salt,
                    "experiments": [
                        {
                            "id": EXPERIMENT,
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
    if weights is None:
        return config
    layer = config.layers[0]
    moved = layer.model_copy(update={"experiments": [reweight(layer.experiments[0], weights)]})
    return config.model_copy(update={"layers": [moved]})


def simulate(
    seed: int,
    users: int = 40_000,
    days: float = 14,
    change_day: float = 7,
    after: dict[str, float] | None = None,
    visits_per_day: float = 0.25,
) -> Streams:
    """The streams of an A/A whose weights go from 50/50 to `after` (30/70) on `change_day`."""
    rng = np.random.default_rng(seed)
    salt = f"aa-{seed}"
    change_ms = T0_MS + int(change_day * DAY_MS)
    revisions = [
        Revision(1, T0_MS, aa_config(salt)),
        Revision(2, change_ms, aa_config(salt, after or {"control": 0.3, "treatment": 0.7})),
    ]
    rate = rng.gamma(ACTIVITY_SHAPE, visits_per_day / ACTIVITY_SHAPE, users)
    ctr = np.clip(rng.beta(2, 18, users) * (rate / visits_per_day) ** 0.5, 0, 0.9)
    first = rng.poisson(rate * change_day)
    second = rng.poisson(rate * (days - change_day))
    who = np.concatenate([np.repeat(np.arange(users), first), np.repeat(np.arange(users), second)])
    when = np.concatenate(
        [
            T0_MS + rng.integers(0, change_ms - T0_MS, first.sum()),
            change_ms + rng.integers(0, int((days - change_day) * DAY_MS), second.sum()),
        ]
    )
    order = np.argsort(when, kind="stable")
    who, when = who[order], when[order]
    clicks = rng.binomial(IMPRESSIONS_PER_VISIT, ctr[who])
    exposures, events = [], []
    labels = _labels(revisions, users)
    for user, ts, clicked in zip(who.tolist(), when.tolist(), clicks.tolist(), strict=True):
        rev = 1 if ts < change_ms else 2
        label = labels[rev - 1][user]
        uid, t, r = f"u{user}", str(ts), str(rev)
        exposures.append(
            {"user": uid, "arms": label, "rev": r, "ts": t, "override": "0", "forced": "0", "fallback": "0",
             "status": "200", "latency_ms": "5.0"}
        )  # fmt: skip
        for kind in ("impression",) * IMPRESSIONS_PER_VISIT + ("click",) * clicked:
            events.append(
                {"type": kind, "user": uid, "item": "item", "ts": t, "arms": label, "rev": r, "qty": "1"}
            )
    return Streams(revisions, exposures, events)


def _labels(revisions: list[Revision], users: int) -> list[list[str]]:
    """Each user's arms label under each revision, by the gateway's own assignment."""
    now = datetime.fromtimestamp(T0_MS / 1000, UTC)
    assigners = [Assigner(revision.config) for revision in revisions]
    return [[a.assign(f"u{user}", now).label() for user in range(users)] for a in assigners]


def reports(streams: Streams) -> Iterator[dict[str, Any]]:
    """The report of each phase, as the gateway would build it from these streams."""
    plan = plan_phases(EXPERIMENT, streams.history)
    tally = ExperimentTally(EXPERIMENT)
    for exposure in streams.exposures:
        tally.add_exposure(exposure, plan)
    for event in streams.events:
        tally.add_event(event, plan)
    for phase in plan.phases:
        yield figures.assemble(phase_tally(tally, plan, phase), streams.history[-1].revision, T0_MS)


def significant(report: dict[str, Any], metric: str) -> dict[str, bool]:
    """Whether the treatment's lift on `metric` looks real: fixed-horizon p < 0.05, always-valid p < 0.05,
    always-valid interval without 0."""
    lift = report["lift"]["treatment"][metric]
    low, high = lift["sequential_ci"]
    return {
        "fixed_horizon": lift["p_value"] is not None and lift["p_value"] < 0.05,
        "always_valid_p": lift["always_valid_p_value"] is not None and lift["always_valid_p_value"] < 0.05,
        "always_valid_ci": low is not None and high is not None and (low > 0 or high < 0),
    }


def false_positive_rates(seeds: range, users: int) -> dict[str, Any]:
    """Over the seeds: the share of runs where each phase (and any phase) shows a lift, per metric and test,
    and the share with a sample ratio mismatch."""
    counts: dict[str, int] = {}
    for seed in seeds:
        found: dict[str, bool] = {}
        for report in reports(simulate(seed, users)):
            phase = f"phase{report['phase']['number']}"
            found[f"{phase}:srm"] = report["srm"]["mismatch"]
            for metric in METRICS:
                for test, hit in significant(report, metric).items():
                    found[f"{phase}:{metric}:{test}"] = hit
                    found[f"any_phase:{metric}:{test}"] = (
                        found.get(f"any_phase:{metric}:{test}", False) or hit
                    )
        for key, hit in found.items():
            counts[key] = counts.get(key, 0) + hit
    return {
        "seeds": len(seeds),
        "users": users,
        "rates": {k: v / len(seeds) for k, v in sorted(counts.items())},
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=200)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--users", type=int, default=40_000)
    args = parser.parse_args(argv)
    result = false_positive_rates(range(args.first_seed, args.first_seed + args.seeds), args.users)
    json.dump(result, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
