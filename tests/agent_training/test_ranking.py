"""Likelihood ranking of candidate tags: the cached scorer equals scoring each whole sequence alone."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent_training import ranking
from agent_training.generation import chat_text
from agent_training.heldout import UserTags, report
from recgpt_domain.tag_ranking import ANSWER_AFTER_TAG, ANSWER_PREFIX
from recgpt_serving.llm.client import Message

PROMPT: list[Message] = [
    {"role": "system", "content": "You suggest tags."},
    {"role": "user", "content": "Bought: Beakers, Pipettes, Nitrile Gloves."},
]
# Lengths differ (padding), and more of them than one forward pass scores (chunks).
CANDIDATES = [f"Lab {'Glass ' * (i % 4)}Beakers {i}" for i in range(ranking._CHUNK + 3)]


def _alone(model: object, tokenizer: object, candidate: str) -> float:
    """log P(candidate + quote | prompt + answer opening) from one uncached forward pass."""
    import torch

    prefix = tokenizer(  # type: ignore[operator]
        chat_text(tokenizer, PROMPT) + ANSWER_PREFIX, add_special_tokens=False
    ).input_ids
    suffix = tokenizer(candidate + ANSWER_AFTER_TAG, add_special_tokens=False).input_ids  # type: ignore[operator]
    ids = torch.tensor([prefix + suffix])
    with torch.no_grad():
        logits = model(input_ids=ids).logits[0]  # type: ignore[operator]
    logp = torch.log_softmax(logits.float(), dim=-1)
    return float(sum(logp[len(prefix) - 1 + j, token] for j, token in enumerate(suffix)))


def test_cached_scores_equal_whole_sequence_scores(tiny_model_folder: Path) -> None:
    from agent_training.model import BaseModel, load_model, load_tokenizer

    base = BaseModel.at(tiny_model_folder)
    model, tokenizer = load_model(base), load_tokenizer(base)
    scores = ranking.candidate_logprobs(model, tokenizer, PROMPT, CANDIDATES)
    assert len(scores) == len(CANDIDATES)
    for candidate, score in zip(CANDIDATES, scores, strict=True):
        assert score == pytest.approx(_alone(model, tokenizer, candidate), abs=1e-3)
    # Distinct candidates get distinct scores: the model, not the padding, decides.
    assert len({round(s, 4) for s in scores}) > 1


def test_rankings_reorder_the_pool_and_fusion_keeps_both_orders() -> None:
    pool = ["A", "B", "C"]
    tags = {"A": "a tag", "B": "b tag", "C": "c tag"}
    with_context = [-5.0, -1.0, -3.0]
    # C is likely whatever the user did: PMI discounts it below A.
    without = {"a tag": -6.0, "b tag": -3.0, "c tag": -1.0}
    ranked = ranking.rankings(pool, tags, with_context, without)
    assert ranked["loglik"] == ["B", "C", "A"]
    assert ranked["pmi"] == ["B", "A", "C"]
    # B is first by the model and second by the statistics; A first by statistics, second by PMI.
    assert ranked["pmi+statistics"][:2] == ["A", "B"]
    assert sorted(ranked["loglik+statistics"]) == pool


def test_report_scores_each_ranking_of_the_pool() -> None:
    rows = [
        UserTags(
            "C", ["A"], ["A"], {"m": ["A"]}, pool=["A", "B", "C"], ranked={"m": {"loglik": ["C", "A", "B"]}}
        ),
        UserTags(
            "Z", ["A"], ["A"], {"m": ["A"]}, pool=["A", "B", "C"], ranked={"m": {"loglik": ["B", "A", "C"]}}
        ),
    ]
    result = report(rows, ["m"], k=1)
    assert result["pool"] == {"size": 3, "recall": 0.5, "statistics_top_k": 0.0}
    assert result["models"]["m"]["ranked_pool"] == {"loglik": 0.5}
