"""Agent-as-a-judge (RecGPT-V2): the sub-evaluators of one artefact asked at once, then the senior reviewer.

A rule that finds a defect settles its dimension without the LLM (recgpt_domain.judge_panel); the other
dimensions are one short schema-constrained call each, concurrent. Any defect is Bad and needs no reviewer;
the reviewer grades the rest Superior or Average (its schema has no Bad). When a call fails or answers
outside its schema, `judge` returns no judgement but the reason: the servicer then takes the next-best path,
the V1 judge.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from pydantic import BaseModel

from judge import prompts
from judge.schema import DimensionAnswer, Review
from recgpt.judge.v1 import judge_pb2
from recgpt_domain import judge_panel
from recgpt_domain.judge_panel import Contradiction, Finding, Verdict
from recgpt_serving import metrics
from recgpt_serving.llm.client import LlmClient
from recgpt_serving.llm.errors import LlmError, LlmOutputError
from recgpt_serving.llm.usage import Usage

# The agents' names in metrics and LLM logs: the panel's members and its reviewer apart from the V1 judge.
SUB_AGENT = "judge_panel"
REVIEW_AGENT = "judge_reviewer"
VERDICT_PB: dict[Verdict, judge_pb2.Verdict] = {
    "superior": judge_pb2.VERDICT_SUPERIOR,
    "average": judge_pb2.VERDICT_AVERAGE,
    "bad": judge_pb2.VERDICT_BAD,
}


class PanelFallback(StrEnum):
    """Why an artefact went to the V1 judge; the `reason` label of recgpt_judge_panel_fallbacks_total."""

    TIMEOUT = "timeout"
    OUTSIDE_SCHEMA = "outside_schema"
    LLM_ERROR = "llm_error"
    CONTRADICTION = "contradiction"


@dataclass
class PanelResult:
    """A judgement, or the reason there is none; the usage of every call made either way."""

    judgement: judge_pb2.Judgement | None
    fallback: PanelFallback | None = None
    usage: Usage = field(default_factory=Usage)


# The one way the panel calls the LLM: (agent, task) -> the validated answer; the servicer binds its
# semaphore and the caller's deadline.
Ask = Callable[[str, prompts.PanelTask], Awaitable[BaseModel]]


def llm_asker(
    client: LlmClient, deadline: Callable[[], float], slots: asyncio.Semaphore, usage: Usage
) -> Ask:
    """Calls through `client` one slot at a time, each with the deadline read once its slot is free."""

    async def ask(agent: str, task: prompts.PanelTask) -> BaseModel:
        async with slots:
            try:
                result = await client.structured(
                    agent,
                    task.messages,
                    task.schema,
                    deadline_s=deadline(),
                    max_tokens=task.max_tokens,
                    temperature=0.0,
                )
            except LlmError as error:
                usage.add_call(error.prompt_tokens, error.completion_tokens, error.latency_s)
                raise
        usage.add_call(result.usage.prompt_tokens, result.usage.completion_tokens, result.latency_s)
        return result.value

    return ask


def _fallback_of(error: LlmError) -> PanelFallback:
    if isinstance(error, LlmOutputError):
        return PanelFallback.OUTSIDE_SCHEMA
    return PanelFallback.TIMEOUT if error.outcome == "timeout" else PanelFallback.LLM_ERROR


async def judge(
    index: int,
    subject: str,
    context: str,
    dimensions: Sequence[str],
    defects: dict[str, str],
    ask: Ask,
    usage: Usage,
) -> PanelResult:
    """One artefact: `context` (prompts.explanation_context / tag_context) judged on `dimensions`."""
    sub_task = prompts.explanation_sub_evaluation if subject == "explanation" else prompts.tag_sub_evaluation
    asked = [d for d in dimensions if d not in defects]
    review: Review | None = None
    try:
        answers = await _all_or_none([ask(SUB_AGENT, sub_task(context, d)) for d in asked])
        by_llm = {d: _dimension_answer(a) for d, a in zip(asked, answers, strict=True)}
        findings = [
            Finding(d, False, defects[d], by_rule=True)
            if d in defects
            else Finding(d, by_llm[d].passed, " ".join(by_llm[d].reason.split()))
            for d in dimensions
        ]
        if not judge_panel.settled(findings):
            passed = [(f.dimension, f.reason) for f in findings]
            answer = await ask(REVIEW_AGENT, prompts.review(context, passed))
            review = Review.model_validate(answer.model_dump())
        verdict = judge_panel.verdict(findings, review.verdict if review else None)
    except LlmError as error:
        if not defects:
            return _fell_back(subject, _fallback_of(error), usage)
        # A rule already made it Bad, whatever the members would have said: the rules' findings stand, and
        # the V1 judge (which passes what the rules catch) is not asked.
        metrics.JUDGE_PANEL_MEMBER_FAILURES.labels(subject, _fallback_of(error).value).inc()
        findings, verdict, review = judge_panel.rule_findings(defects), "bad", None
    except Contradiction:
        return _fell_back(subject, PanelFallback.CONTRADICTION, usage)
    for finding in findings:
        if not finding.passed:
            metrics.JUDGE_PANEL_DEFECTS.labels(subject, finding.dimension).inc()
    return PanelResult(_judgement(index, verdict, findings, review), usage=usage)


async def _all_or_none(calls: list[Awaitable[BaseModel]]) -> list[BaseModel]:
    """Every answer, or the first failure with the other calls cancelled: one failure settles the artefact."""
    tasks = [asyncio.ensure_future(call) for call in calls]
    try:
        return list(await asyncio.gather(*tasks))
    finally:
        for task in tasks:
            task.cancel()


def _dimension_answer(answer: BaseModel) -> DimensionAnswer:
    return DimensionAnswer.model_validate(answer.model_dump())


def _fell_back(subject: str, reason: PanelFallback, usage: Usage) -> PanelResult:
    metrics.JUDGE_PANEL_FALLBACKS.labels(subject, reason.value).inc()
    return PanelResult(None, reason, usage)


def _judgement(
    index: int, verdict: Verdict, findings: list[Finding], review: Review | None
) -> judge_pb2.Judgement:
    failing = [f.dimension for f in findings if not f.passed]
    reason = (
        f"failing: {', '.join(failing)}" if failing else " ".join((review.reason if review else "").split())
    )
    return judge_pb2.Judgement(
        index=index,
        verdict=VERDICT_PB[verdict],
        reason=reason,
        dimensions=[
            judge_pb2.DimensionScore(
                dimension=f.dimension, passed=f.passed, reason=f"rule: {f.reason}" if f.by_rule else f.reason
            )
            for f in findings
        ],
    )
