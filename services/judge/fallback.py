"""What the judge answers without the LLM: a rule's verdict when that settles it, else no verdict.

There is no non-LLM judgement of relevance worth the name, so a failed call answers VERDICT_UNSPECIFIED
with the reason: the caller counts it apart instead of mistaking it for a pass or a fail.
"""

from __future__ import annotations

from recgpt.judge.v1 import judge_pb2
from recgpt_serving.agent_runner import FallbackReason


def unavailable(
    index: int, reason: FallbackReason, rules: list[judge_pb2.DimensionScore]
) -> judge_pb2.Judgement:
    return judge_pb2.Judgement(
        index=index,
        verdict=judge_pb2.VERDICT_UNSPECIFIED,
        reason=f"judge unavailable: {reason.value}",
        dimensions=rules,
    )


def empty_explanation(index: int, rule: judge_pb2.DimensionScore) -> judge_pb2.Judgement:
    """An empty explanation fails by rule: there is nothing for the LLM to read."""
    return judge_pb2.Judgement(
        index=index, verdict=judge_pb2.VERDICT_FAIL, reason="empty explanation", dimensions=[rule]
    )
