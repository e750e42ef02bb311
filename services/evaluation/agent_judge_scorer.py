"""The `agent_as_judge` scorer: RecGPT-V2's agent-as-a-judge as the judge service runs it, on the engine.

The judge's contract (judge.prompts, judge.schema) and the panel's rules and verdict rule
(recgpt_domain.judge_panel) make the verdict; where the panel fails (a call out of time, an answer outside its
schema, the reviewer among them) the V1 verdict answers, as in the service, and the reason is
counted in `fallbacks`, unless a rule had already found a defect: then it stays Bad on the rules' findings
(counted in `member_failures`). The score orders verdicts first, then the dimensions passed
(judge_panel.score); a V1 verdict counts as Average when it passes, Bad when it fails. `agent_rules` scores
the panel's rules alone (no LLM: Average without a defect), to show what the sub-evaluators and the reviewer
add to them.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Iterable

from pydantic import BaseModel, ValidationError

from evaluation.discrimination_sets import Pair
from evaluation.judge_scorers import ScoringError, VerdictScorer
from judge import prompts as judge_prompts
from judge.schema import DimensionAnswer, Review
from recgpt.common.v1 import common_pb2
from recgpt_domain import judge_panel
from recgpt_domain.catalogue import Item
from recgpt_domain.grounding import CatalogueVocabulary
from recgpt_domain.judge_panel import Contradiction, Finding, Verdict
from recgpt_serving.llm.client import LlmClient
from recgpt_serving.llm.errors import LlmError, LlmOutputError

# The agents' names as the judge service calls them (judge.panel), so the engine's figures add up alike.
SUB_AGENT = "judge_panel"
REVIEW_AGENT = "judge_reviewer"
# The most criteria a V1 verdict passes (its prompt's two or three booleans and the grounding rule).
_V1_CRITERIA = 3.0


class AgentJudgeScorer:
    def __init__(
        self, client: LlmClient, items: Iterable[Item], v1: VerdictScorer, *, rules_only: bool = False
    ) -> None:
        self.name = "agent_rules" if rules_only else "agent_as_judge"
        self.rules_only = rules_only
        self.client = client
        self.vocabulary = CatalogueVocabulary.from_items(items)
        self.v1 = v1
        # Answers by prompt: the same artefact in two pairs is asked once.
        self.answers: dict[str, BaseModel] = {}
        self.verdicts: Counter[str] = Counter()
        self.fallbacks: Counter[str] = Counter()
        # Members that failed where a rule had made the artefact Bad already (it stays Bad, no fallback).
        self.member_failures: Counter[str] = Counter()

    async def score(self, pair: Pair, text: str) -> float:
        try:
            judged, findings = await self.judge(pair, text)
        except Contradiction:
            return await self._v1(pair, text, "contradiction")
        except LlmOutputError:
            return await self._v1(pair, text, "outside_schema")
        except LlmError as error:
            return await self._v1(pair, text, "timeout" if error.outcome == "timeout" else "llm_error")
        self.verdicts[judged] += 1
        return judge_panel.score(judged, findings)

    async def judge(self, pair: Pair, text: str) -> tuple[Verdict, list[Finding]]:
        """The panel's verdict and findings; raises Contradiction or LlmError as the service falls back on."""
        if pair.kind == "explanation":
            assert pair.item is not None
            defects = judge_panel.explanation_defects(
                text, pair.item, self.vocabulary, interest=pair.interest
            )
            context = judge_prompts.explanation_context(pair.interest, pair.item, text)
            dimensions: tuple[str, ...] = judge_panel.EXPLANATION_DIMENSIONS
            sub_task = judge_prompts.explanation_sub_evaluation
        else:
            tag = common_pb2.Tag(tag=text)
            defects = judge_panel.tag_defects(text, pair.behaviour)
            context = judge_prompts.tag_context(pair.behaviour, tag)
            dimensions = judge_panel.TAG_DIMENSIONS
            sub_task = judge_prompts.tag_sub_evaluation
        if self.rules_only:
            findings = judge_panel.rule_findings(defects)
            findings += [Finding(d, True) for d in dimensions if d not in defects]
            return ("bad" if defects else "average"), findings
        asked = [d for d in dimensions if d not in defects]
        try:
            answers = await asyncio.gather(*(self._ask(SUB_AGENT, sub_task(context, d)) for d in asked))
        except LlmError as error:
            if not defects:
                raise
            # As the service: a rule already made it Bad, and the rules' findings stand.
            self.member_failures[type(error).__name__] += 1
            return "bad", judge_panel.rule_findings(defects)
        by_llm = {
            d: DimensionAnswer.model_validate(a.model_dump()) for d, a in zip(asked, answers, strict=True)
        }
        findings = [
            Finding(d, False, defects[d], by_rule=True) if d in defects else Finding(d, by_llm[d].passed)
            for d in dimensions
        ]
        if judge_panel.settled(findings):
            return judge_panel.verdict(findings, None), findings
        passed = [(f.dimension, by_llm[f.dimension].reason) for f in findings]
        answer = await self._ask(REVIEW_AGENT, judge_prompts.review(context, passed))
        try:
            review = Review.model_validate(answer.model_dump())
        except ValidationError as error:  # the client validated it already; kept for a changed schema
            raise Contradiction(str(error)) from error
        return judge_panel.verdict(findings, review.verdict), findings

    async def _ask(self, agent: str, task: judge_prompts.PanelTask) -> BaseModel:
        key = json.dumps(task.messages)
        if key not in self.answers:
            result = await self.client.structured(
                agent, task.messages, task.schema, max_tokens=task.max_tokens, temperature=0.0
            )
            self.answers[key] = result.value
        return self.answers[key]

    async def _v1(self, pair: Pair, text: str, reason: str) -> float:
        """The service's next-best path: the V1 verdict, Average when it passes every criterion, else Bad."""
        self.fallbacks[reason] += 1
        try:
            passed = await self.v1.score(pair, text)
        except ScoringError:
            self.verdicts["unavailable"] += 1
            raise
        judged: Verdict = "average" if passed >= _V1_CRITERIA else "bad"
        self.verdicts[f"v1_{judged}"] += 1
        return 10.0 * judge_panel.RANK[judged] + passed
