"""The evaluation metrics on hand-computed values."""

from __future__ import annotations

import math

import pytest

from evaluation import metrics


def test_mean_and_empty_mean() -> None:
    assert metrics.mean([1.0, 2.0, 4.5]) == pytest.approx(2.5)
    assert metrics.mean([]) == 0.0


def test_hit_rate_needs_the_target_among_the_predictions() -> None:
    assert metrics.hit_rate({"Drama", "Comedy"}, "Drama") == 1.0
    assert metrics.hit_rate(["Comedy"], "Drama") == 0.0
    assert metrics.hit_rate({""}, "") == 0.0


def test_recall_at_k_counts_only_the_top_k() -> None:
    ranked = ["a", "b", "c", "d"]
    assert metrics.recall_at_k(ranked, ["c"], 3) == 1.0
    assert metrics.recall_at_k(ranked, ["d"], 3) == 0.0
    assert metrics.recall_at_k(ranked, ["a", "d", "z"], 4) == pytest.approx(2 / 3)
    assert metrics.recall_at_k(ranked, [], 4) == 0.0


def test_ndcg_at_k_discounts_by_rank() -> None:
    assert metrics.ndcg_at_k(["t", "x"], ["t"], 10) == 1.0
    assert metrics.ndcg_at_k(["x", "y", "t"], ["t"], 10) == pytest.approx(0.5)
    assert metrics.ndcg_at_k(["x", "t"], ["t"], 10) == pytest.approx(1 / math.log2(3))
    assert metrics.ndcg_at_k(["x", "t"], ["t"], 1) == 0.0
    # Two relevant items at ranks 1 and 3: (1 + 1/2) / (1 + 1/log2(3)).
    assert metrics.ndcg_at_k(["a", "x", "b"], ["a", "b"], 3) == pytest.approx(1.5 / (1 + 1 / math.log2(3)))


def test_exclusive_recall_counts_users_only_the_first_route_hit() -> None:
    tag = [True, True, False, False]
    collaborative = [True, False, True, False]
    assert metrics.exclusive_recall(tag, collaborative) == 0.25
    assert metrics.exclusive_recall([], []) == 0.0
    with pytest.raises(ValueError):
        metrics.exclusive_recall([True], [])


def test_rouge_l_is_the_reference_f_measure_of_the_token_lcs() -> None:
    assert metrics.rouge_l("The cat sat", "the cat sat") == 1.0
    # The reference tokenizer (rouge-score): lower-cased runs of ASCII letters and digits.
    assert metrics.rouge_l("lab_coat, gloves!", "Lab coat gloves") == 1.0
    # LCS "the cat" = 2; precision 2/3, recall 2/4: F = 2 * (2/3 * 1/2) / (2/3 + 1/2) = 4/7.
    assert metrics.rouge_l("the cat sat", "the big cat ran") == pytest.approx(4 / 7)
    assert metrics.rouge_l("dog", "cat") == 0.0
    assert metrics.rouge_l("", "cat") == 0.0


def test_diversity_uses_only_items_with_two_or_more_texts() -> None:
    value, items, pairs = metrics.diversity(
        {
            "i1": ["the cat sat", "the big cat ran"],
            "i2": ["same words", "same words", "other text"],
            "i3": ["alone"],
        }
    )
    assert (items, pairs) == (2, 4)
    assert value == pytest.approx(1 - (4 / 7 + 1.0 + 0.0 + 0.0) / 4)
    assert metrics.diversity({"i": ["only one"]}) == (0.0, 0, 0)


def test_most_frequent_breaks_ties_by_first_seen() -> None:
    values = ["B", "A", "A", "B", "C", ""]
    assert metrics.most_frequent(values, 2) == ["B", "A"]
    assert metrics.most_frequent(["x", "y", "y"], 5) == ["y", "x"]
