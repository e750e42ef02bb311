"""Turns the judge's answer into a verdict, and checks an explanation's facts by rule (no LLM needed).

The answer is untrusted like any LLM output, but its schema leaves little room: one boolean per criterion.
The verdict is PASS only when every criterion, the rule-based one included, passed.
"""

from __future__ import annotations

from judge.prompts import Task
from judge.schema import Answer
from judge.settings import JudgeSettings
from recgpt.judge.v1 import judge_pb2
from recgpt_domain import grounding
from recgpt_domain.catalogue import Item
from recgpt_domain.grounding import CatalogueVocabulary

GROUNDED_FACTS = "grounded_facts"


def grounding_problems(
    text: str, item: Item, interest: str, vocabulary: CatalogueVocabulary, settings: JudgeSettings
) -> list[str]:
    """The explain service's own check of an explanation's facts (grounding.PROBLEMS)."""
    return grounding.check(
        text,
        item,
        vocabulary,
        interest=interest,
        max_words=settings.max_words,
        max_chars=settings.max_chars,
    )


def grounding_rule(problems: list[str]) -> judge_pb2.DimensionScore:
    """The rule-based "grounded_facts" dimension of an explanation's judgement."""
    return judge_pb2.DimensionScore(dimension=GROUNDED_FACTS, passed=not problems, reason=", ".join(problems))


def judgement(
    index: int, task: Task, answer: Answer, rule: judge_pb2.DimensionScore | None
) -> judge_pb2.Judgement:
    """PASS when every criterion of `task` and the rule passed, else FAIL; never UNSPECIFIED."""
    values = answer.model_dump()
    scores = [judge_pb2.DimensionScore(dimension=name, passed=bool(values[name])) for name in task.dimensions]
    if rule is not None:
        scores.append(rule)
    reason = " ".join(str(values.get("reason", "")).split())
    if rule is not None and not rule.passed:
        reason = f"{reason}; grounding: {rule.reason}" if reason else f"grounding: {rule.reason}"
    passed = all(score.passed for score in scores)
    return judge_pb2.Judgement(
        index=index,
        verdict=judge_pb2.VERDICT_PASS if passed else judge_pb2.VERDICT_FAIL,
        reason=reason,
        dimensions=scores,
    )
