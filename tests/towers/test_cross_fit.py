"""Fusion weights cross-fitted over folds of validation users; recgpt-v1 built on the baseline's fusion."""

from __future__ import annotations

import numpy as np
import pytest

from recgpt_domain.fusion import over_baseline
from recgpt_domain.ranking_settings import RankingSettings
from towers import evaluate
from towers.cross_fit import Candidate, choose, fold_of, fold_scores, gain_over, neighbours, pick

LINE = [Candidate(f"w={step / 10:.1f}", (step / 10,)) for step in range(11)]


def test_a_lone_spike_loses_to_the_centre_of_a_plateau() -> None:
    # One fold is enough to show the rule: 0.0 spikes, 0.5-0.9 is a broad plateau a little below it.
    mean = np.array([0.50, 0.10, 0.10, 0.20, 0.44, 0.46, 0.47, 0.47, 0.46, 0.45, 0.30])
    scores = np.stack([mean, mean])

    assert int(np.argmax(mean)) == 0
    assert LINE[pick(scores, neighbours(LINE, 0.1))].name in {"w=0.6", "w=0.7"}


def test_each_fold_is_scored_and_held_out_in_turn() -> None:
    rng = np.random.default_rng(0)
    # Ranks of 11 candidates for 200 users; candidate 7 brings every target into the top 10.
    ranks = rng.integers(0, 200, size=(11, 200))
    ranks[7] = 0
    fold_index = np.asarray([fold_of(f"user-{u}", 4) for u in range(200)])

    scores = fold_scores(ranks, fold_index, 4)
    chosen = choose(scores, LINE, 0.1)

    assert scores.shape == (4, 11) and np.allclose(scores[:, 7], 2.0)
    assert chosen.spread.choice in {"w=0.6", "w=0.7", "w=0.8"}
    assert len(chosen.spread.per_fold) == len(chosen.spread.held_out) == 4
    assert len(chosen.spread.held_out_choices) == 4
    assert chosen.spread.std == pytest.approx(float(np.std(chosen.spread.per_fold)))


def test_folds_are_stable_and_cover_every_fold() -> None:
    assert [fold_of(f"u{i}", 5) for i in range(50)] == [fold_of(f"u{i}", 5) for i in range(50)]
    assert {fold_of(f"u{i}", 5) for i in range(200)} == set(range(5))


def test_the_simplex_neighbourhood_is_one_step_in_every_weight() -> None:
    grid = [candidate for _, candidate in evaluate.baseline_grid(10)]
    near = neighbours(grid, 0.1)
    centre = next(i for i, c in enumerate(grid) if c.point == pytest.approx((0.3, 0.3, 0.4)))
    assert len(grid) == 66 and len(near[centre]) == 7  # itself and a hexagon
    corner = next(i for i, c in enumerate(grid) if c.point == pytest.approx((1.0, 0.0, 0.0)))
    assert len(near[corner]) == 3


def test_beta_one_leaves_the_baselines_weights_untouched() -> None:
    assert over_baseline([0.5, 0.3, 0.2], 1.0) == ([0.5, 0.3, 0.2], 0.0)
    scaled, tag = over_baseline([0.6, 0.4], 0.25)
    assert scaled == pytest.approx([0.15, 0.1]) and tag == pytest.approx(0.75)


def _lists(cases: list[evaluate.Case], tag_finds: frozenset[int] = frozenset()) -> evaluate.RouteLists:
    """Hand-made routes: learned finds each target at rank 3, except for the users in `tag_finds`, whose
    target the tag route puts first (it finds no other)."""
    lists = evaluate.RouteLists()
    for index, case in enumerate(cases):
        others = [row for row in range(100, 160) if row != case.target]
        learned = [*others[:3], case.target, *others[3:20]] if index not in tag_finds else others[:21]
        tag = [case.target, *range(201, 230)] if index in tag_finds else list(range(200, 230))
        for route, ranked in (
            (evaluate.LEARNED, learned),
            (evaluate.COLLABORATIVE, others[5:30]),
            (evaluate.CONTENT, others[10:40]),
            (evaluate.TAG_TOWER, tag),
            (evaluate.TAG_MINILM, tag),
        ):
            lists.add(route, (ranked, [1.0 - rank / 100 for rank in range(len(ranked))]))
    return lists


CASES = [evaluate.Case(f"user-{u}", [u], 120 + u % 30) for u in range(60)]


def test_recgpt_with_no_tag_weight_ranks_exactly_as_the_baseline() -> None:
    lists = _lists(CASES)
    settings = RankingSettings(recgpt_v1_beta=1.0)

    evaluate.fused_routes(lists, CASES, settings, evaluate.Weights(0.5, 0.2, 1.0, 0.3))

    assert lists.rows(evaluate.FUSED_RECGPT_LEARNED) == lists.rows(evaluate.FUSED_BASELINE_LEARNED)
    assert lists.rows(evaluate.FUSED_RECGPT) == lists.rows(evaluate.FUSED_BASELINE)


def test_the_tag_route_joins_the_baselines_routes() -> None:
    lists = _lists(CASES)

    evaluate.fused_routes(lists, CASES, RankingSettings(), evaluate.Weights(0.5, 0.2, 0.5, 0.3))

    fused = lists.rows(evaluate.FUSED_RECGPT_LEARNED)
    assert all(set(ranked) & set(range(200, 230)) for ranked in fused)
    assert all(set(ranked) & set(lists.rows(evaluate.COLLABORATIVE)[i]) for i, ranked in enumerate(fused))


def test_a_useless_tag_route_is_given_no_weight_and_the_spread_is_kept() -> None:
    lists = _lists(CASES)

    chosen = evaluate.choose_weights(lists, CASES, folds=3)

    assert chosen.weights.beta == 1.0
    assert chosen.weights.collaborative > 0  # learned is the only route that finds the targets
    assert set(chosen.spread) == {"baseline", "recgpt_v1"} and chosen.folds == 3
    assert all(len(spread.per_fold) == 3 for spread in chosen.spread.values())
    assert chosen.spread["recgpt_v1"].choice == "beta=1.00"


def test_a_gain_counts_only_beyond_its_noise() -> None:
    default = np.full(400, 60)  # no user's target in the top 50
    few = default.copy()
    few[:3] = 0  # three users of 400 gain both hits: a mean of 0.015, its standard error about 0.0087
    assert gain_over(few, default).mean == pytest.approx(0.015)
    assert not gain_over(few, default).significant()
    half = np.where(np.arange(400) % 2 == 0, 5, 60)
    assert gain_over(half, default).significant() and not gain_over(default, half).significant()
    assert gain_over(half, default).mean == pytest.approx(1.0)


def test_a_tag_route_that_helps_few_users_leaves_the_baseline_alone() -> None:
    # The tag route finds 2 of 60 targets the baseline misses: the rule would give it weight, the gate not.
    lists = _lists(CASES, frozenset({4, 9}))

    chosen = evaluate.choose_weights(lists, CASES, folds=3)

    spread = chosen.spread["recgpt_v1"]
    assert chosen.weights.beta == 1.0 and spread.choice == "beta=1.00"
    assert spread.not_significant is not None and spread.not_significant != "beta=1.00"
    assert spread.gain is not None and 0 < spread.gain <= 2 * (spread.gain_standard_error or 0)


def test_a_tag_route_that_clearly_helps_gets_weight() -> None:
    lists = _lists(CASES, frozenset(range(0, 60, 2)))

    chosen = evaluate.choose_weights(lists, CASES, folds=3)

    spread = chosen.spread["recgpt_v1"]
    assert chosen.weights.beta < 1.0 and spread.not_significant is None
    assert spread.gain is not None and spread.gain > 2 * (spread.gain_standard_error or 0)
