"""Validation figures of an agent's answers on held-apart examples: the same checks the rewards use."""

from __future__ import annotations

import json
from collections.abc import Sequence
from statistics import mean

from pydantic import ValidationError

from agent_training.agents import EXPERT, EXPLANATIONS, INTERESTS, JUDGE, TAGS, AgentName
from agent_training.data import Example
from agent_training.rewards import (
    ExpertConstraints,
    ExplanationRewarder,
    TagConstraints,
    TagMapper,
    score_expert,
    score_tags,
)
from intent.schema import InterestsAnswer
from recgpt_domain.catalogue import Item


def interest_names(text: str) -> list[str] | None:
    try:
        answer = InterestsAnswer.model_validate(json.loads(text))
    except (ValueError, ValidationError):
        return None
    return [" ".join(entry.interest.split()) for entry in answer.interests if entry.interest.strip()]


def agent_metrics(
    agent: AgentName,
    examples: Sequence[Example],
    answers: Sequence[str],
    *,
    items: dict[str, Item],
    mapper: TagMapper | None,
    rewarder: ExplanationRewarder | None,
    constraints: TagConstraints,
    expert: ExpertConstraints | None = None,
) -> dict[str, float]:
    """Parse rate, usable share (1 - the fallback share) and the agent's hit figure, on `answers`."""
    if not examples:
        return {}
    if agent == EXPERT:
        return expert_metrics(examples, answers, expert or ExpertConstraints())
    if agent == TAGS:
        if mapper is None:
            raise ValueError("tag metrics need a category mapper")
        scores = [
            score_tags(a, e.next_categories, mapper, constraints, e.pool_names)
            for e, a in zip(examples, answers, strict=True)
        ]
        return {
            "examples": len(examples),
            "parsed": mean(1.0 if s.parsed else 0.0 for s in scores),
            "usable": mean(1.0 if s.categories else 0.0 for s in scores),
            "next_category_hit": mean(1.0 if s.accuracy > 0 else 0.0 for s in scores),
            "accuracy": mean(s.accuracy for s in scores),
            "alignment": mean(s.alignment for s in scores),
            "diversity": mean(s.diversity for s in scores),
            "tags_per_answer": mean(s.tags for s in scores),
        }
    if agent == INTERESTS:
        parsed = [interest_names(answer) for answer in answers]
        return {
            "examples": len(examples),
            "parsed": mean(1.0 if names is not None else 0.0 for names in parsed),
            "usable": mean(1.0 if names else 0.0 for names in parsed),
            "returning_category_hit": mean(
                1.0 if names and set(names) & set(e.next_categories) else 0.0
                for e, names in zip(examples, parsed, strict=True)
            ),
        }
    if agent == EXPLANATIONS:
        if rewarder is None:
            raise ValueError("explanation metrics need the grounding checker")
        grounded = [
            rewarder.score(answer, items[e.item_id], e.interest)
            for e, answer in zip(examples, answers, strict=True)
        ]
        return {
            "examples": len(examples),
            "parsed": mean(1.0 if g.parsed else 0.0 for g in grounded),
            "grounded": mean(g.grounded for g in grounded),
            "diversity": mean([g.diversity for g in grounded if g.parsed] or [0.0]),
            # The judge's proxy: its mean score, and the share no rule finds a defect in (all seven passed).
            "judged": mean(g.judged for g in grounded),
            "passed_all": mean(1.0 if g.parsed and not g.defects else 0.0 for g in grounded),
        }
    if agent == JUDGE:
        verdicts = [verdict(answer) for answer in answers]
        return {
            "examples": len(examples),
            "parsed": mean(1.0 if v is not None else 0.0 for v in verdicts),
            "accuracy": mean(
                1.0 if v == verdict(e.completion) else 0.0 for e, v in zip(examples, verdicts, strict=True)
            ),
        }
    raise ValueError(f"no metrics for agent {agent}")


def expert_metrics(
    examples: Sequence[Example], answers: Sequence[str], constraints: ExpertConstraints
) -> dict[str, float]:
    """Experts' answers as the reward scores them: the hit rate in the pool (an in-pool pick names one of the
    next categories), the valid share (what CRS pays for), and what the tag service would make of them."""
    scores = [
        score_expert(answer, dict(zip(e.pool_names, e.pool, strict=True)), e.next_categories, constraints)
        for e, answer in zip(examples, answers, strict=True)
    ]
    return {
        "examples": len(examples),
        "parsed": mean(1.0 if s.parsed else 0.0 for s in scores),
        "valid": mean(1.0 if s.valid else 0.0 for s in scores),
        # The tag service falls back on an answer it cannot parse or that keeps no pick in the pool.
        "fallback": mean(1.0 if s.fallback else 0.0 for s in scores),
        "hit_in_pool": mean(1.0 if s.hit > 0 else 0.0 for s in scores),
        "valid_hit": mean(1.0 if s.valid and s.hit > 0 else 0.0 for s in scores),
        "hit_share": mean(s.hit for s in scores),
        # The ceiling of the hit rate: examples whose pool offers one of the next categories.
        "target_in_pool": mean(1.0 if s.reachable else 0.0 for s in scores),
        "in_pool": mean(s.in_pool for s in scores),
        "distinct": mean(s.distinct for s in scores),
        "picks_per_answer": mean(s.picks for s in scores),
        "reward_crs": mean(s.reward("crs") for s in scores),
        "reward_sum": mean(s.reward("sum") for s in scores),
    }


def verdict(answer: str) -> bool | None:
    """A judge's yes/no answer (its first word), None when it is neither."""
    words = answer.strip().split()
    first = words[0].strip(".,!:;\"'").casefold() if words else ""
    return {"yes": True, "no": False}.get(first)
