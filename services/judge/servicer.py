"""The gRPC face of the judge: one LLM judgement per artefact (V1), plus rule-based grounding checks, or
agent-as-a-judge (V2, `judge.panel`) with the V1 judgement as its next-best path."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

import grpc

from judge import fallback, panel, prompts, validation
from judge.prompts import AGENT
from judge.settings import JudgeSettings
from recgpt.common.v1 import common_pb2
from recgpt.judge.v1 import judge_pb2, judge_pb2_grpc
from recgpt_domain import grounding, judge_panel
from recgpt_domain.behaviour_context import compress
from recgpt_domain.catalogue import Item
from recgpt_domain.grounding import CatalogueVocabulary
from recgpt_domain.messages import item_from_pb
from recgpt_domain.situation import Situation
from recgpt_serving import agent_runner, metrics
from recgpt_serving.llm import likelihood
from recgpt_serving.llm.client import Message
from recgpt_serving.llm.errors import LlmError
from recgpt_serving.llm.usage import Usage

log = logging.getLogger(__name__)

MAX_ARTEFACTS = 64
MAX_TEXT_CHARS = 1000
SOURCES = frozenset({"offline", "live"})


@dataclass
class _Judged:
    judgement: judge_pb2.Judgement
    # False when the verdict (or its absence) came from a fallback, not from the LLM (for V2: the panel).
    by_llm: bool
    prompt_tokens: int = 0
    completion_tokens: int = 0
    engine_seconds: float = 0.0


def _from_panel(result: panel.PanelResult) -> _Judged | None:
    if result.judgement is None:
        return None
    usage = result.usage
    return _Judged(result.judgement, True, usage.prompt_tokens, usage.completion_tokens, usage.engine_seconds)


def _after_panel(judged: _Judged, result: panel.PanelResult | None) -> _Judged:
    """The V1 judgement as the panel's next-best path: marked with why, the panel's usage added."""
    if result is None:
        return judged
    judged.judgement.fallback_reason = result.fallback.value if result.fallback else ""
    judged.by_llm = False
    judged.prompt_tokens += result.usage.prompt_tokens
    judged.completion_tokens += result.usage.completion_tokens
    judged.engine_seconds += result.usage.engine_seconds
    return judged


def source_label(source: str) -> str:
    return source if source in SOURCES else "unspecified"


def _check_texts(texts: list[str], what: str) -> None:
    if len(texts) > MAX_ARTEFACTS:
        raise agent_runner.InvalidRequest(f"at most {MAX_ARTEFACTS} artefacts per request, got {len(texts)}")
    for index, text in enumerate(texts):
        if not text.strip():
            raise agent_runner.InvalidRequest(f"{what}[{index}] is empty")
        if len(text) > MAX_TEXT_CHARS:
            raise agent_runner.InvalidRequest(f"{what}[{index}] is longer than {MAX_TEXT_CHARS} characters")


class JudgeServicer(agent_runner.AgentServicer[JudgeSettings], judge_pb2_grpc.JudgeServiceServicer):
    def __init__(
        self, settings: JudgeSettings, deps: agent_runner.AgentDeps, vocabulary: CatalogueVocabulary
    ) -> None:
        super().__init__(settings, deps)
        self.vocabulary = vocabulary
        self._llm_slots = asyncio.Semaphore(settings.max_parallel_llm_calls)

    async def Judge(
        self, request: judge_pb2.JudgeRequest, context: grpc.aio.ServicerContext
    ) -> judge_pb2.JudgeResponse:
        async with agent_runner.refusals_as_status(context, "behaviour store"):
            return await self._judge(request, context)
        raise AssertionError("context.abort returned")

    async def _judge(
        self, request: judge_pb2.JudgeRequest, context: grpc.aio.ServicerContext
    ) -> judge_pb2.JudgeResponse:
        subject = request.WhichOneof("subject")
        v2 = request.method == judge_pb2.METHOD_RECGPT_V2
        if subject == "interests":
            interests = list(request.interests.interests)
            _check_texts([entry.interest for entry in interests], "interests")
            behaviour = await self._behaviour(request)
            tasks = [
                self._llm_judgement(i, prompts.interest(behaviour, e), context)
                for i, e in enumerate(interests)
            ]
            label = "interest"
        elif subject == "tags":
            tags = list(request.tags.tags)
            _check_texts([entry.tag for entry in tags], "tags")
            behaviour = await self._behaviour(request)
            tasks = [self._tag(i, e, behaviour, context, v2) for i, e in enumerate(tags)]
            label = "tag"
        elif subject == "explanations":
            explanations = list(request.explanations.explanations)
            _check_texts([entry.interest for entry in explanations], "explanations.interest")
            situation = Situation.from_map(request.situation)
            tasks = [
                self._explanation(i, e, context, situation if v2 else None)
                for i, e in enumerate(self._subjects(explanations))
            ]
            label = "explanation"
        else:
            raise agent_runner.InvalidRequest("set one of interests, tags or explanations")
        judged = await asyncio.gather(*tasks)
        # Interests have no panel: the V2 method judges them as V1 does.
        v2 = v2 and subject != "interests"
        version = prompts.PANEL_PROMPT_VERSION if v2 else prompts.PROMPT_VERSION
        adapter = await self.deps.llm.adapter_for(panel.SUB_AGENT if v2 else AGENT)
        return self._response(judged, label, source_label(request.source), adapter, version)

    def _subjects(self, explanations: list[judge_pb2.ExplanationSubject]) -> list[tuple[str, Item, str]]:
        subjects = []
        for index, entry in enumerate(explanations):
            if not entry.item.item_id:
                raise agent_runner.InvalidRequest(f"explanations[{index}].item has no item_id")
            if len(entry.text) > MAX_TEXT_CHARS:
                raise agent_runner.InvalidRequest(
                    f"explanations[{index}].text is longer than {MAX_TEXT_CHARS} characters"
                )
            item = item_from_pb(entry.item)
            # A subject that only names its item is judged against the catalogue's attributes.
            if not item.title and item.item_id in self.deps.items:
                item = self.deps.items[item.item_id]
            subjects.append((entry.interest, item, entry.text))
        return subjects

    async def _behaviour(self, request: judge_pb2.JudgeRequest) -> str:
        interactions = await agent_runner.read_behaviour(
            self.deps, request.user_id, request.behaviour, self.settings.behaviour_max_interactions
        )
        return compress(interactions, self.deps.items, self.settings.judge_behaviour_budget_tokens).text

    async def _tag(
        self,
        index: int,
        tag: common_pb2.Tag,
        behaviour: str,
        context: grpc.aio.ServicerContext,
        v2: bool,
    ) -> _Judged:
        """The panel's judgement (V2), or the V1 one: asked for, or the panel's next-best path."""
        outcome = None
        if v2:
            defects = judge_panel.tag_defects(tag.tag, behaviour, tag.interest)
            context_text = prompts.tag_context(behaviour, tag)
            outcome = await self._panel(
                index, "tag", context_text, judge_panel.TAG_DIMENSIONS, defects, context
            )
            if (made := _from_panel(outcome)) is not None:
                return made
        judged = await self._llm_judgement(
            index,
            prompts.tag(behaviour, tag),
            context,
            likely=(prompts.tag_questions(behaviour, tag), tag.tag),
            yes_no=prompts.yes_no_tag(behaviour, tag),
        )
        return _after_panel(judged, outcome)

    async def _panel(
        self,
        index: int,
        subject: str,
        context_text: str,
        dimensions: tuple[str, ...],
        defects: dict[str, str],
        context: grpc.aio.ServicerContext,
    ) -> panel.PanelResult:
        usage = Usage()
        ask = panel.llm_asker(
            self.deps.llm, lambda: agent_runner.llm_deadline(context, self.settings), self._llm_slots, usage
        )
        return await panel.judge(index, subject, context_text, dimensions, defects, ask, usage)

    async def _explanation(
        self,
        index: int,
        subject: tuple[str, Item, str],
        context: grpc.aio.ServicerContext,
        situation: Situation | None = None,
    ) -> _Judged:
        """V1's judgement, or with a situation (V2) the panel's, the V1 one being its next-best path."""
        interest, item, text = subject
        problems = validation.grounding_problems(text, item, interest, self.vocabulary, self.settings)
        rule = validation.grounding_rule(problems)
        if grounding.EMPTY in problems:
            agent_runner.count_fallback(AGENT, agent_runner.FallbackReason.EMPTY_SUBJECT)
            empty = fallback.empty_explanation(index, rule)
            if situation is not None:
                empty.verdict = judge_pb2.VERDICT_BAD
            return _Judged(empty, by_llm=False)
        outcome = None
        if situation is not None:
            defects = judge_panel.explanation_defects(
                text,
                item,
                self.vocabulary,
                interest=interest,
                situation=situation,
                max_words=self.settings.max_words,
                max_chars=self.settings.max_chars,
            )
            context_text = prompts.explanation_context(interest, item, text, situation.describe())
            outcome = await self._panel(
                index, "explanation", context_text, judge_panel.EXPLANATION_DIMENSIONS, defects, context
            )
            if (made := _from_panel(outcome)) is not None:
                return made
        likely = (prompts.explanation_questions(interest, item), text)
        yes_no = prompts.yes_no_explanation(interest, item, text)
        judged = await self._llm_judgement(
            index, prompts.explanation(interest, item, text), context, rule, likely, yes_no
        )
        return _after_panel(judged, outcome)

    async def _llm_judgement(
        self,
        index: int,
        task: prompts.Task,
        context: grpc.aio.ServicerContext,
        rule: judge_pb2.DimensionScore | None = None,
        likely: tuple[tuple[list[Message], list[Message]], str] | None = None,
        yes_no: list[Message] | None = None,
    ) -> _Judged:
        try:
            async with self._llm_slots:
                result = await self.deps.llm.structured(
                    AGENT,
                    task.messages,
                    task.schema,
                    # Fitted once a slot is free: the wait for it came out of the caller's time.
                    deadline_s=agent_runner.llm_deadline(context, self.settings),
                    max_tokens=prompts.MAX_TOKENS,
                    temperature=0.0,
                )
        except LlmError as error:
            reason = agent_runner.fallback_reason(error)
            agent_runner.count_fallback(AGENT, reason)
            judgement = fallback.unavailable(index, reason, [] if rule is None else [rule])
            return _Judged(judgement, False, error.prompt_tokens, error.completion_tokens, error.latency_s)
        judgement = validation.judgement(index, task, result.value, rule)
        if likely is not None and self.settings.judge_likelihood:
            await self._fits_context(judgement, likely, context)
        if yes_no is not None and self.settings.judge_verdict:
            await self._verdict(judgement, yes_no, context)
        return _Judged(
            judgement,
            True,
            result.usage.prompt_tokens,
            result.usage.completion_tokens,
            result.latency_s,
        )

    async def _fits_context(
        self,
        judgement: judge_pb2.Judgement,
        likely: tuple[tuple[list[Message], list[Message]], str],
        context: grpc.aio.ServicerContext,
    ) -> None:
        """Adds the likelihood dimension; a FAIL when the context does not make the text more likely.

        Without logprobs (the call failed) the judgement keeps its other dimensions, and the failure is
        counted like any failed LLM call.
        """
        questions, text = likely
        try:
            async with self._llm_slots:
                pmi = await likelihood.pointwise_mutual_information(
                    self.deps.llm,
                    AGENT,
                    questions,
                    text,
                    deadline_s=agent_runner.llm_deadline(context, self.settings),
                )
        except LlmError as error:
            log.warning("likelihood judging failed", extra={"error": str(error)})
            return
        _add_dimension(
            judgement, prompts.DIMENSION, pmi > self.settings.judge_likelihood_margin, f"pmi {pmi:.2f}"
        )

    async def _verdict(
        self, judgement: judge_pb2.Judgement, question: list[Message], context: grpc.aio.ServicerContext
    ) -> None:
        """Adds the yes/no verdict's dimension, asked of the verdict agent; a FAIL when No is as likely.

        Without logprobs (the call failed) the judgement keeps its other dimensions, as with `_fits_context`.
        """
        try:
            async with self._llm_slots:
                odds = await likelihood.yes_log_odds(
                    self.deps.llm,
                    prompts.VERDICT_AGENT,
                    question,
                    deadline_s=agent_runner.llm_deadline(context, self.settings),
                )
        except LlmError as error:
            log.warning("verdict judging failed", extra={"error": str(error)})
            return
        passed = odds > self.settings.judge_verdict_margin
        _add_dimension(judgement, prompts.VERDICT_DIMENSION, passed, f"yes-no log-odds {odds:.2f}")

    def _response(
        self, judged: list[_Judged], subject: str, source: str, adapter: str, prompt_version: str
    ) -> judge_pb2.JudgeResponse:
        # One provenance covers every judgement: it says fallback when any of them is not the LLM's.
        response = judge_pb2.JudgeResponse(
            provenance=agent_runner.provenance(
                self.deps.llm.settings,
                prompt_version,
                fallback=not all(entry.by_llm for entry in judged),
                adapter=adapter,
            )
        )
        for entry in judged:
            response.judgements.append(entry.judgement)
            response.usage.prompt_tokens += entry.prompt_tokens
            response.usage.completion_tokens += entry.completion_tokens
            response.usage.engine_seconds += entry.engine_seconds
            metrics.JUDGE_VERDICTS.labels(subject, _verdict_label(entry.judgement.verdict), source).inc()
        return response


def _add_dimension(judgement: judge_pb2.Judgement, dimension: str, passed: bool, reason: str) -> None:
    """One more scored dimension; failing it fails the verdict."""
    judgement.dimensions.append(judge_pb2.DimensionScore(dimension=dimension, passed=passed, reason=reason))
    if not passed:
        judgement.verdict = judge_pb2.VERDICT_FAIL


_VERDICT_LABELS: dict[judge_pb2.Verdict, str] = {
    judge_pb2.VERDICT_PASS: "pass",
    judge_pb2.VERDICT_FAIL: "fail",
    judge_pb2.VERDICT_SUPERIOR: "superior",
    judge_pb2.VERDICT_AVERAGE: "average",
    judge_pb2.VERDICT_BAD: "bad",
}


def _verdict_label(verdict: judge_pb2.Verdict) -> str:
    return _VERDICT_LABELS.get(verdict, "unavailable")
