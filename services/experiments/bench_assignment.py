"""Assignment on synthetic user ids: arm shares against the SRM test, stability, layer independence, moves.

python -m experiments.bench_assignment --users 1000000
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from datetime import UTC, datetime

import numpy as np
from scipy import stats as scipy_stats

from experiments import stats
from experiments.allocation import reweight
from experiments.assignment import Assigner
from experiments.config import ExperimentConfig

NOW = datetime(2026, 11, 28, tzinfo=UTC)


def _experiment(experiment_id: str, weights: list[int]) -> dict[str, object]:
    arms, start = [], 0
    for index, size in enumerate(weights):
        arms.append({"name": f"arm{index}", "buckets": [{"start": start, "end": start + size}]})
        start += size
    return {"id": experiment_id, "control": "arm0", "arms": arms}


def _config(second_layer: dict[str, object]) -> ExperimentConfig:
    return ExperimentConfig.model_validate(
        {
            "layers": [
                {"name": "pipeline", "salt": "bench-l1", "experiments": [_experiment("a", [5000, 5000])]},
                {"name": "page", "salt": "bench-l2", "experiments": [second_layer]},
            ]
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=1_000_000)
    args = parser.parse_args()
    users = [f"synthetic-{i}" for i in range(args.users)]
    config = _config(_experiment("b", [2000, 3000, 5000]))
    assigner = Assigner(config)
    started = time.perf_counter()
    first = [tuple(a.arm for a in assigner.assign(u, NOW).arms) for u in users]
    elapsed = time.perf_counter() - started
    print(f"users {args.users:,}; assignment {elapsed / args.users * 1e6:.2f} µs per user (two layers)")
    for layer, (name, weights) in enumerate((("a", [0.5, 0.5]), ("b", [0.2, 0.3, 0.5]))):
        counts = Counter(arms[layer] for arms in first)
        observed = {f"arm{i}": counts[f"arm{i}"] for i in range(len(weights))}
        srm = stats.sample_ratio(observed, {f"arm{i}": w for i, w in enumerate(weights)})
        shares = ", ".join(
            f"{arm} {count / args.users:.4%} (want {w:.0%})"
            for (arm, count), w in zip(observed.items(), weights, strict=True)
        )
        verdict = "MISMATCH" if srm.mismatch else "within tolerance"
        print(f"experiment {name}: {shares}; chi-square {srm.chi_square:.2f}, p {srm.p_value:.3f}: {verdict}")
    again = Assigner(_config(_experiment("b", [2000, 3000, 5000])))
    changed = sum(
        tuple(a.arm for a in again.assign(u, NOW).arms) != f for u, f in zip(users, first, strict=True)
    )
    print(f"stability: {changed} of {args.users:,} users changed arm when assigned again by a fresh process")
    table = Counter(first)
    a_arms, b_arms = ["arm0", "arm1"], ["arm0", "arm1", "arm2"]
    contingency = np.array([[table[(x, y)] for y in b_arms] for x in a_arms])
    chi, p_value, dof, _ = scipy_stats.chi2_contingency(contingency)
    cramers_v = (chi / (args.users * (min(contingency.shape) - 1))) ** 0.5
    print(
        f"layer independence: chi-square {chi:.2f} (dof {dof}), p {p_value:.3f}, Cramér's V {cramers_v:.5f}"
    )
    experiment_b = config.layers[1].experiments[0]
    moved_config = _config(reweight(experiment_b, {"arm0": 0.3, "arm1": 0.2, "arm2": 0.5}).model_dump())
    moved_assigner = Assigner(moved_config)
    moved: Counter[tuple[str, str]] = Counter()
    for user, arms in zip(users, first, strict=True):
        now_arm = moved_assigner.assign(user, NOW).arms[1].arm
        if now_arm != arms[1]:
            moved[(arms[1], now_arm)] += 1
    total = sum(moved.values())
    print(
        f"weight change b: arm0 20%->30%, arm1 30%->20%, arm2 50%: {total:,} users moved"
        f" ({total / args.users:.3%}; the shifted share is 10%); by move: {dict(moved)}"
    )


if __name__ == "__main__":
    main()
