"""RecGPT-V2's meta-prompting: a style guideline from the interest, the item and the situation, then the
explanation written to it; both answers untrusted.

A guideline that is empty or unsafe, an explanation that fails grounding or that the panel's rules judge Bad
(recgpt_domain.judge_panel) is no answer: `write` returns why, and the servicer takes the V1 path.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from explain import prompts
from explain.prompts import AGENT
from explain.schema import ExplanationAnswer, StyleAnswer
from explain.settings import ExplainSettings
from recgpt_domain import grounding, judge_panel
from recgpt_domain.catalogue import Item
from recgpt_domain.grounding import CatalogueVocabulary
from recgpt_domain.situation import Situation
from recgpt_serving import metrics
from recgpt_serving.llm.client import LlmClient
from recgpt_serving.llm.errors import LlmError
from recgpt_serving.llm.usage import Usage

log = logging.getLogger(__name__)


class NextBest(StrEnum):
    """Why the V1 path answered a V2 request; the `reason` label of recgpt_explain_v2_fallbacks_total."""

    GUIDELINE_FAILED = "guideline_failed"
    GUIDELINE_EMPTY = "guideline_empty"
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
class MetaPrompter:
    llm: LlmClient
    settings: ExplainSettings
    vocabulary: CatalogueVocabulary
    slots: asyncio.Semaphore

    async def write(
        self, interest: str, item: Item, situation: Situation, adapter: str, deadline: Callable[[], float]
    ) -> Outcome:
        usage = Usage()
        try:
            async with self.slots:
                style = await self.llm.structured(
                    AGENT,
                    prompts.style_messages(interest, item, situation.describe()),
                    StyleAnswer,
                    deadline_s=deadline(),
                    max_tokens=prompts.STYLE_MAX_TOKENS,
                    temperature=self.settings.style_temperature,
                    adapter=adapter,
                )
        except LlmError as error:
            usage.add_call(error.prompt_tokens, error.completion_tokens, error.latency_s)
            return _next_best(NextBest.GUIDELINE_FAILED, usage, item, str(error))
        usage.add_call(style.usage.prompt_tokens, style.usage.completion_tokens, style.latency_s)
        guideline = " ".join(style.value.guideline.split())
        if not grounding.words(guideline):
            return _next_best(NextBest.GUIDELINE_EMPTY, usage, item)
        if judge_panel.unsafe_terms(guideline):
            return _next_best(NextBest.GUIDELINE_UNSAFE, usage, item, guideline)
        try:
            async with self.slots:
                written = await self.llm.structured(
                    AGENT,
                    prompts.guided_messages(interest, item, guideline, self.settings.max_words),
                    ExplanationAnswer,
                    deadline_s=deadline(),
                    max_tokens=prompts.MAX_TOKENS,
                    temperature=self.settings.guided_temperature,
                    adapter=adapter,
                )
        except LlmError as error:
            usage.add_call(error.prompt_tokens, error.completion_tokens, error.latency_s)
            return _next_best(NextBest.EXPLANATION_FAILED, usage, item, str(error))
        usage.add_call(written.usage.prompt_tokens, written.usage.completion_tokens, written.latency_s)
        text = grounding.shown_sentence(written.value.explanation)
        defects = self.defects(text, item, interest, situation)
        if {"factuality", "clarity"} & set(defects):
            return _next_best(NextBest.UNGROUNDED, usage, item, f"{defects}: {text}")
        if defects:
            return _next_best(NextBest.JUDGED_BAD, usage, item, f"{defects}: {text}")
        return Outcome(text, guideline, usage=usage)

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
