"""The gRPC face of the judge: one LLM judgement per artefact (V1), plus rule-based grounding checks."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

import grpc

from judge import prompt
from recgpt.common.v1 import common_pb2
from recgpt.judge.v1 import judge_pb2, judge_pb2_grpc
from recgpt_domain import grounding
from recgpt_domain.behaviour_context import compress
from recgpt_domain.catalogue import Item
from recgpt_domain.grounding import CatalogueVocabulary
from recgpt_domain.messages import item_from_pb
from recgpt_serving import agent_runner, metrics
from recgpt_serving.agent_runner import AgentDeps, InvalidRequest, refusals_as_status
from recgpt_serving.llm.errors import LlmError

log = logging.getLogger(__name__)

SERVICE_NAME = judge_pb2.DESCRIPTOR.services_by_name["JudgeService"].full_name
AGENT = "judge"
MAX_ARTEFACTS = 64
MAX_TEXT_CHARS = 1000
GROUNDED_FACTS = "grounded_facts"
SOURCES = frozenset({"offline", "live"})


@dataclass(frozen=True)
class JudgeConfig:
    llm_deadline_s: float
    max_parallel_llm_calls: int
    behaviour_budget_tokens: int
    behaviour_max_interactions: int
    max_words: int = grounding.MAX_WORDS
    max_chars: int = grounding.MAX_CHARS


@dataclass
class _Judged:
    judgement: judge_pb2.Judgement
    prompt_tokens: int = 0
    completion_tokens: int = 0
    engine_seconds: float = 0.0


def source_label(source: str) -> str:
    return source if source in SOURCES else "unspecified"


def _check_texts(texts: list[str], what: str) -> None:
    if len(texts) > MAX_ARTEFACTS:
        raise InvalidRequest(f"at most {MAX_ARTEFACTS} artefacts per request, got {len(texts)}")
    for index, text in enumerate(texts):
        if not text.strip():
            raise InvalidRequest(f"{what}[{index}] is empty")
        if len(text) > MAX_TEXT_CHARS:
            raise InvalidRequest(f"{what}[{index}] is longer than {MAX_TEXT_CHARS} characters")


class JudgeServicer(judge_pb2_grpc.JudgeServiceServicer):
    def __init__(self, config: JudgeConfig, deps: AgentDeps, vocabulary: CatalogueVocabulary) -> None:
        self.config = config
        self.deps = deps
        self.vocabulary = vocabulary
        self._llm_slots = asyncio.Semaphore(config.max_parallel_llm_calls)

    async def Judge(
        self, request: judge_pb2.JudgeRequest, context: grpc.aio.ServicerContext
    ) -> judge_pb2.JudgeResponse:
        if request.method == judge_pb2.METHOD_RECGPT_V2:
            await context.abort(
                grpc.StatusCode.UNIMPLEMENTED, "agent-as-a-judge comes with the RecGPT-V2 issue"
            )
        async with refusals_as_status(context, "behaviour store"):
            return await self._judge(request)
        raise AssertionError("context.abort returned")

    async def _judge(self, request: judge_pb2.JudgeRequest) -> judge_pb2.JudgeResponse:
        subject = request.WhichOneof("subject")
        if subject == "interests":
            interests = list(request.interests.interests)
            _check_texts([entry.interest for entry in interests], "interests")
            behaviour = await self._behaviour(request)
            tasks = [self._llm_judgement(i, prompt.interest(behaviour, e)) for i, e in enumerate(interests)]
            label = "interest"
        elif subject == "tags":
            tags = list(request.tags.tags)
            _check_texts([entry.tag for entry in tags], "tags")
            behaviour = await self._behaviour(request)
            tasks = [self._llm_judgement(i, prompt.tag(behaviour, e)) for i, e in enumerate(tags)]
            label = "tag"
        elif subject == "explanations":
            explanations = list(request.explanations.explanations)
            _check_texts([entry.interest for entry in explanations], "explanations.interest")
            tasks = [self._explanation(i, e) for i, e in enumerate(self._subjects(explanations))]
            label = "explanation"
        else:
            raise InvalidRequest("set one of interests, tags or explanations")
        judged = await asyncio.gather(*tasks)
        return self._response(judged, label, source_label(request.source))

    def _subjects(self, explanations: list[judge_pb2.ExplanationSubject]) -> list[tuple[str, Item, str]]:
        subjects = []
        for index, entry in enumerate(explanations):
            if not entry.item.item_id:
                raise InvalidRequest(f"explanations[{index}].item has no item_id")
            if len(entry.text) > MAX_TEXT_CHARS:
                raise InvalidRequest(f"explanations[{index}].text is longer than {MAX_TEXT_CHARS} characters")
            item = item_from_pb(entry.item)
            # A subject that only names its item is judged against the catalogue's attributes.
            if not item.title and item.item_id in self.deps.items:
                item = self.deps.items[item.item_id]
            subjects.append((entry.interest, item, entry.text))
        return subjects

    async def _behaviour(self, request: judge_pb2.JudgeRequest) -> str:
        interactions = await agent_runner.read_behaviour(
            self.deps, request.user_id, request.behaviour, self.config.behaviour_max_interactions
        )
        return compress(interactions, self.deps.items, self.config.behaviour_budget_tokens).text

    async def _explanation(self, index: int, subject: tuple[str, Item, str]) -> _Judged:
        interest, item, text = subject
        problems = grounding.check(
            text,
            item,
            self.vocabulary,
            interest=interest,
            max_words=self.config.max_words,
            max_chars=self.config.max_chars,
        )
        rule = judge_pb2.DimensionScore(
            dimension=GROUNDED_FACTS, passed=not problems, reason=", ".join(problems)
        )
        if grounding.EMPTY in problems:  # nothing for the LLM to read
            return _Judged(
                judge_pb2.Judgement(
                    index=index, verdict=judge_pb2.VERDICT_FAIL, reason="empty explanation", dimensions=[rule]
                )
            )
        judged = await self._llm_judgement(index, prompt.explanation(interest, item, text), rule)
        return judged

    async def _llm_judgement(
        self, index: int, task: prompt.Task, rule: judge_pb2.DimensionScore | None = None
    ) -> _Judged:
        rules = [] if rule is None else [rule]
        try:
            async with self._llm_slots:
                result = await self.deps.llm.structured(
                    AGENT,
                    task.messages,
                    task.schema,
                    deadline_s=self.config.llm_deadline_s,
                    max_tokens=prompt.MAX_TOKENS,
                    temperature=0.0,
                )
        except LlmError as error:
            judgement = judge_pb2.Judgement(
                index=index,
                verdict=judge_pb2.VERDICT_UNSPECIFIED,
                reason=f"judge unavailable: {error.outcome}",
                dimensions=rules,
            )
            return _Judged(judgement, error.prompt_tokens, error.completion_tokens, error.latency_s)
        answer = result.value.model_dump()
        scores = [
            judge_pb2.DimensionScore(dimension=name, passed=bool(answer[name])) for name in task.dimensions
        ]
        scores.extend(rules)
        passed = all(score.passed for score in scores)
        reason = " ".join(str(answer.get("reason", "")).split())
        if rule is not None and not rule.passed:
            reason = f"{reason}; grounding: {rule.reason}" if reason else f"grounding: {rule.reason}"
        judgement = judge_pb2.Judgement(
            index=index,
            verdict=judge_pb2.VERDICT_PASS if passed else judge_pb2.VERDICT_FAIL,
            reason=reason,
            dimensions=scores,
        )
        return _Judged(
            judgement, result.usage.prompt_tokens, result.usage.completion_tokens, result.latency_s
        )

    def _response(self, judged: list[_Judged], subject: str, source: str) -> judge_pb2.JudgeResponse:
        response = judge_pb2.JudgeResponse(
            provenance=common_pb2.Provenance(
                model=self.deps.llm.settings.model,
                prompt_version=prompt.PROMPT_VERSION,
                created_at_unix=int(time.time()),
            )
        )
        for entry in judged:
            response.judgements.append(entry.judgement)
            response.usage.prompt_tokens += entry.prompt_tokens
            response.usage.completion_tokens += entry.completion_tokens
            response.usage.engine_seconds += entry.engine_seconds
            metrics.JUDGE_VERDICTS.labels(subject, _verdict_label(entry.judgement.verdict), source).inc()
        return response


def _verdict_label(verdict: int) -> str:
    if verdict == judge_pb2.VERDICT_PASS:
        return "pass"
    if verdict == judge_pb2.VERDICT_FAIL:
        return "fail"
    return "unavailable"
