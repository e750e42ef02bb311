"""How co-occurrence's weighting moves its recall: `python -m towers.cooccurrence_sweep DIR --split 1`.

Builds the table from one user split's seen log (every user's last interaction held out) once per weighting
(`--exponents` pairs: count(seed)^a · count(neighbour)^b divide a pair's weight) and scores the route alone on
every user's last interaction, the split's unseen users apart. What chose the defaults in
`recgpt_domain.cooccurrence`; no model, no LLM, a minute on two cores.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path

from recgpt_domain import cooccurrence
from recgpt_domain.catalogue import UserHistory
from recgpt_domain.ranking_settings import RankingSettings
from towers import data, evaluate
from towers.offline_routes import RouteContext, recent_distinct
from towers.split_users import is_unseen


@dataclass
class Row:
    seed_exponent: float
    neighbour_exponent: float
    # "all" and "unseen": users, R@10, R@50.
    figures: dict[str, tuple[int, float, float]] = field(default_factory=dict)

    def line(self) -> str:
        figures = "  ".join(
            f"{name} ({users}) R@10 {r10:.4f} R@50 {r50:.4f}"
            for name, (users, r10, r50) in self.figures.items()
        )
        return f"seed^{self.seed_exponent} neighbour^{self.neighbour_exponent}: {figures}"


def sweep(
    dataset: Path, split: int, share: float, window: int, exponents: list[tuple[float, float]]
) -> list[Row]:
    """One row per weighting: R@10 / R@50 on all users and on the split's unseen ones."""
    items, histories, _ = data.read_dataset(dataset)
    row_of = {item.item_id: row for row, item in enumerate(items)}
    cases, _ = evaluate.cases(histories, row_of)
    seen_log = [
        UserHistory(user_id=h.user_id, interactions=h.interactions[:-1])
        for h in histories
        if not is_unseen(h.user_id, share, split)
    ]
    unseen = [case for case in cases if is_unseen(case.user_id, share, split)]
    settings = RankingSettings()
    rows: list[Row] = []
    for seed_exponent, neighbour_exponent in exponents:
        table, _, _ = cooccurrence.build(
            seen_log, row_of, window, cooccurrence.NEIGHBOURS, seed_exponent, neighbour_exponent
        )
        context = RouteContext(table.popularity, table, content_vectors=table.popularity[:, None])
        lists = {
            case.user_id: context.collaborative(
                recent_distinct(case.history, settings.recent_items), sorted(set(case.history)), 50
            )[0]
            for case in cases
        }
        row = Row(seed_exponent, neighbour_exponent)
        for name, chosen in (("all", cases), ("unseen", unseen)):
            metrics = evaluate.metrics([lists[case.user_id] for case in chosen], chosen)
            row.figures[name] = (len(chosen), metrics["recall@10"], metrics["recall@50"])
        rows.append(row)
    return rows


def _pair(text: str) -> tuple[float, float]:
    seed, neighbour = text.split(",")
    return float(seed), float(neighbour)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m towers.cooccurrence_sweep", description=__doc__)
    parser.add_argument("dataset", type=Path)
    parser.add_argument("--split", type=int, default=1, help="the user split's seed (towers.split_users)")
    parser.add_argument("--unseen-share", type=float, default=0.2)
    parser.add_argument("--window", type=int, default=cooccurrence.WINDOW)
    parser.add_argument(
        "--exponents",
        nargs="+",
        type=_pair,
        default=[(0.5, 0.5), (0.5, 0.0), (0.3, 0.0), (0.0, 0.0)],
        help="seed,neighbour exponent pairs",
    )
    args = parser.parse_args(argv)
    for row in sweep(args.dataset, args.split, args.unseen_share, args.window, args.exponents):
        print(row.line())  # noqa: T201


if __name__ == "__main__":
    main()
