"""RecGPT-V2's meta-prompting: a style guideline from the interest, the item and the situation (constrained
choices, explain.prompts), then the explanation written to it, asked to name the item by its short name;
both answers untrusted.

An unsafe guideline is no answer, nor is a sentence cut at the schema's bound, one that fails grounding or
one that the panel's rules judge Bad (recgpt_domain.judge_panel): such a sentence is sampled again (up to
`sentence_attempts`), the last resample opening with the item's short name (`named_resample`, forced by
the schema: explain.prompts.named_sentence_schema), then `write` returns why, and the servicer takes the
V1 path.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from explain import prompts
from explain.prompts import AGENT, Plan, render
from explain.schema import EXPLANATION_MAX_CHARS, ExplanationAnswer
from explain.settings import ExplainSettings
from recgpt_domain import grounding, judge_panel
from recgpt_domain.catalogue import Item
from recgpt_domain.grounding import CatalogueVocabulary
from recgpt_domain.situation import Situation
from recgpt_serving import metrics
from recgpt_serving.llm.client import LlmClient, Message
from recgpt_serving.llm.errors import LlmError, LlmOutputError
from recgpt_serving.llm.usage import Usage

log = logging.getLogger(__name__)


class NextBest(StrEnum):
    """Why the V1 path answered a V2 request; the `reason` label of recgpt_explain_v2_fallbacks_total."""

    GUIDELINE_FAILED = "guideline_failed"
    GUIDELINE_UNSAFE = "guideline_unsafe"
    EXPLANATION_FAILED = "explanation_failed"
    UNGROUNDED = "ungrounded"
    JUDGED_BAD = "judged_bad"


@dataclass
class Outcome:
    """The explanation and its guideline, or why there is none; the usage of both calls either way."""

    text: str = ""
    guideline: str = ""
    next_best: NextBest | None = None
    usage: Usage | None = None


@dataclass(frozen=True)
class _Rejected:
    """Why a sampled sentence is no answer; `resample` unless the engine failed (a deadline, an unavailable
    or refusing engine), which another sample would share."""

    reason: NextBest
    detail: str = ""
    resample: bool = True


@dataclass(frozen=True)
class _Sampling:
    """How one sample of the sentence is asked: free, or named (its opening forced by the schema)."""

    kind: str
    schema: type[ExplanationAnswer]
    temperature: float


@dataclass(frozen=True)
class MetaPrompter:
    llm: LlmClient
    settings: ExplainSettings
    vocabulary: CatalogueVocabulary
    slots: asyncio.Semaphore

    async def write(
        self, interest: str, item: Item, situation: Situation, adapter: str, deadline: Callable[[], float]
    ) -> Outcome:
        usage = Usage()
        plan = Plan.of(item, interest, situation)
        try:
            async with self.slots:
                style = await self.llm.structured(
                    AGENT,
                    prompts.style_messages(interest, item, situation.describe(), plan.qualities.by_kind),
                    plan.schema,
                    deadline_s=deadline(),
                    max_tokens=prompts.STYLE_MAX_TOKENS,
                    temperature=self.settings.style_temperature,
                    adapter=adapter,
                    frequency_penalty=self.settings.frequency_penalty,
                )
        except LlmError as error:
            usage.add_call(error.prompt_tokens, error.completion_tokens, error.latency_s)
            return _next_best(NextBest.GUIDELINE_FAILED, usage, item, str(error))
        usage.add_call(style.usage.prompt_tokens, style.usage.completion_tokens, style.latency_s)
        guideline = render(style.value, plan.qualities, situation)
        if judge_panel.unsafe_terms(guideline):
            return _next_best(NextBest.GUIDELINE_UNSAFE, usage, item, guideline)
        messages = prompts.guided_messages(interest, item, guideline, plan.name, self.settings.max_words)
        free = _Sampling("free", ExplanationAnswer, self.settings.guided_temperature)
        named_schema = prompts.named_sentence_schema(plan.name) if self.settings.named_resample else None
        named = _Sampling("named", named_schema, self.settings.named_temperature) if named_schema else free
        rejected = _Rejected(NextBest.EXPLANATION_FAILED)
        last = self.settings.sentence_attempts - 1
        for attempt in range(self.settings.sentence_attempts):
            sampling = named if attempt == last > 0 else free
            sentence = await self._sentence(
                messages, sampling, item, interest, situation, adapter, deadline, usage
            )
            if isinstance(sentence, str):
                metrics.EXPLAIN_V2_SENTENCES.labels(sampling.kind).inc()
                return Outcome(sentence, guideline, usage=usage)
            rejected = sentence
            if not rejected.resample:
                break
        return _next_best(rejected.reason, usage, item, f"{rejected.detail} [{guideline}]")

    async def _sentence(
        self,
        messages: list[Message],
        sampling: _Sampling,
        item: Item,
        interest: str,
        situation: Situation,
        adapter: str,
        deadline: Callable[[], float],
        usage: Usage,
    ) -> str | _Rejected:
        """One sampled sentence that passes the panel's rules, else why not; its usage added either way."""
        try:
            async with self.slots:
                written = await self.llm.structured(
                    AGENT,
                    messages,
                    sampling.schema,
                    deadline_s=deadline(),
                    max_tokens=prompts.GUIDED_MAX_TOKENS,
                    temperature=sampling.temperature,
                    adapter=adapter,
                    frequency_penalty=self.settings.frequency_penalty,
                )
        except LlmOutputError as error:
            usage.add_call(error.prompt_tokens, error.completion_tokens, error.latency_s)
            return _Rejected(NextBest.EXPLANATION_FAILED, str(error), resample=True)
        except LlmError as error:
            usage.add_call(error.prompt_tokens, error.completion_tokens, error.latency_s)
            return _Rejected(NextBest.EXPLANATION_FAILED, str(error), resample=False)
        usage.add_call(written.usage.prompt_tokens, written.usage.completion_tokens, written.latency_s)
        answer = written.value.explanation
        if len(answer) >= EXPLANATION_MAX_CHARS and grounding.sentences(answer) == 1:
            # The grammar closed the string at the schema's bound inside its first sentence: a sentence cut
            # mid-word is no answer (a ramble after a whole first sentence is, as ever, left out).
            return _Rejected(NextBest.EXPLANATION_FAILED, f"cut: {answer}")
        text = grounding.shown_sentence(answer)
        defects = self.defects(text, item, interest, situation)
        if {"factuality", "clarity"} & set(defects):
            return _Rejected(NextBest.UNGROUNDED, f"{defects}: {text}")
        if defects:
            return _Rejected(NextBest.JUDGED_BAD, f"{defects}: {text}")
        return text

    def defects(self, text: str, item: Item, interest: str, situation: Situation) -> dict[str, str]:
        """The panel's rule defects: grounding (factuality, clarity) and the rest (judged Bad)."""
        return judge_panel.explanation_defects(
            text,
            item,
            self.vocabulary,
            interest=interest,
            situation=situation,
            max_words=self.settings.max_words,
            max_chars=self.settings.max_chars,
        )


def _next_best(reason: NextBest, usage: Usage, item: Item, detail: str = "") -> Outcome:
    """Counted and logged with what went wrong (the error, the defects and the text), so that an operator
    sees why meta-prompting fell back, not only how often."""
    metrics.EXPLAIN_V2_FALLBACKS.labels(reason.value).inc()
    log.info(
        "meta-prompting fell back to the V1 path",
        extra={"reason": reason.value, "item_id": item.item_id, "detail": detail[:600]},
    )
    return Outcome(next_best=reason, usage=usage)
