"""The RecBot parser: rules first, the LLM only for what they leave, the catalogue checking both.

A command the rules resolve whole never waits on the LLM. When the LLM is needed but fails (down, late,
invalid) or proposes nothing the catalogue knows, the rules answer alone: what they could not place is kept
as soft text, matched semantically. Each part of the answer says which of the two produced it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from intent.commands.llm import AGENT, CommandAnswer, messages, resolve
from intent.commands.rules import POSITIVE, Part, RulesParser, RulesResult
from intent.commands.vocabulary import Vocabulary
from recgpt_domain.preferences import Change, Preferences
from recgpt_serving.agent_runner import count_fallback, fallback_reason
from recgpt_serving.llm.client import LlmClient
from recgpt_serving.llm.errors import LlmError, LlmOutputError

log = logging.getLogger(__name__)

LLM_NOT_NEEDED = "not_needed"
LLM_OK = "ok"
LLM_INVALID = "invalid"


@dataclass
class ParsedCommand:
    change: Change
    parts: list[Part]
    llm_status: str
    # The LLM was needed and the rules answered without it.
    fallback: bool
    rules_seconds: float
    llm_seconds: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    notes: list[str] = field(default_factory=list)


class CommandParser:
    def __init__(self, vocabulary: Vocabulary, llm: LlmClient | None, *, max_tokens: int = 200) -> None:
        self.rules = RulesParser(vocabulary)
        self.vocabulary = vocabulary
        self.llm = llm
        self.max_tokens = max_tokens

    async def parse(
        self, text: str, feed: Sequence[str], current: Preferences, llm_deadline_s: float
    ) -> ParsedCommand:
        started = time.perf_counter()
        ruled = self.rules.parse(text, feed, current)
        rules_seconds = time.perf_counter() - started
        if not ruled.leftovers:
            return ParsedCommand(_change(ruled), ruled.parts, LLM_NOT_NEEDED, False, rules_seconds)
        parsed = ParsedCommand(_change(ruled), ruled.parts, LLM_NOT_NEEDED, False, rules_seconds)
        await self._ask_llm(ruled, parsed, llm_deadline_s)
        parsed.change = _change(ruled)
        return parsed

    async def _ask_llm(self, ruled: RulesResult, parsed: ParsedCommand, deadline_s: float) -> None:
        """Adds the LLM's resolved parts to `ruled`, or the leftovers as soft texts when it cannot help."""
        used_llm = False
        if self.llm is not None:
            started = time.perf_counter()
            try:
                result = await self.llm.structured(
                    AGENT,
                    messages(ruled.leftovers, self.vocabulary.numeric_fields),
                    CommandAnswer,
                    deadline_s=deadline_s,
                    max_tokens=self.max_tokens,
                    temperature=0.0,
                )
            except LlmError as error:
                reason = fallback_reason(error)
                count_fallback(AGENT, reason)
                parsed.llm_status = LLM_INVALID if isinstance(error, LlmOutputError) else reason.value
                log.warning("command parser answered without the LLM", extra={"reason": reason.value})
            else:
                parsed.prompt_tokens = result.usage.prompt_tokens
                parsed.completion_tokens = result.usage.completion_tokens
                resolved = resolve(result.value, self.vocabulary)
                parsed.parts.extend(resolved.parts)
                kept = [part for part in resolved.parts if part.resolution != "dropped"]
                parsed.llm_status = LLM_OK
                if kept:
                    used_llm = True
                    _extend(ruled.added, resolved.added)
            parsed.llm_seconds = time.perf_counter() - started
        if not used_llm:
            parsed.fallback = True
            for text, polarity in ruled.leftovers:
                target, opposite = (
                    (ruled.added.soft_positive, ruled.added.soft_negative)
                    if polarity == POSITIVE
                    else (ruled.added.soft_negative, ruled.added.soft_positive)
                )
                note = ""
                if text.casefold() in {t.casefold() for t in opposite}:
                    opposite[:] = [t for t in opposite if t.casefold() != text.casefold()]
                    note = "contradiction in the command: the later mention wins"
                target.append(text)
                parsed.parts.append(Part(text, "soft", "rules", polarity, text, "exact", note))


def _extend(target: Preferences, more: Preferences) -> None:
    target.hard_positive.extend(more.hard_positive)
    target.hard_negative.extend(more.hard_negative)
    target.soft_positive.extend(more.soft_positive)
    target.soft_negative.extend(more.soft_negative)


def _change(ruled: RulesResult) -> Change:
    return Change(
        added=ruled.added.model_copy(deep=True),
        removed=ruled.removed.model_copy(deep=True),
        reset=ruled.reset,
    )
