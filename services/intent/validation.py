"""Cleans the interests the LLM returned: every entry is untrusted, each one dropped is counted."""

from __future__ import annotations

import re
from collections.abc import Sequence

from intent.prompts import AGENT, ECHO_PHRASES
from intent.schema import INTEREST_MAX_CHARS, REASON_MAX_CHARS, MinedInterest
from recgpt.common.v1 import common_pb2
from recgpt_domain.prompt_text import normalise
from recgpt_serving import metrics

# What a model writes when it has nothing to say, or copies the schema's field names.
PLACEHOLDERS = frozenset(
    {
        "interest",
        "interests",
        "reason",
        "none",
        "n/a",
        "na",
        "null",
        "nil",
        "unknown",
        "other",
        "example",
        "string",
        "tbd",
        "todo",
        "...",
        "etc",
        "nothing",
        "no interest",
        "no interests",
        "user interest",
        "your interest",
    }
)

_ECHOES = frozenset(phrase.casefold() for phrase in ECHO_PHRASES)
# A line copied from the behaviour: a category heading "Beakers (3 items):" or an item line "- ... x2".
_COPIED_LINE = re.compile(r"\(\d+ items?\)|^- |\bx\d+$|rated \d")
_LETTER = re.compile(r"[^\W\d_]")
_SPACES = re.compile(r"\s+")


def _drop(reason: str) -> None:
    metrics.AGENT_DROPPED_OUTPUTS.labels(AGENT, reason).inc()


def _reason_text(reason: str) -> str:
    reason = _SPACES.sub(" ", reason).strip()
    if len(reason) > REASON_MAX_CHARS:
        reason = reason[: REASON_MAX_CHARS - 1].rstrip() + "…"
    return reason


def clean_interests(mined: Sequence[MinedInterest], limit: int) -> list[common_pb2.Interest]:
    """The usable interests, in the model's order, at most `limit`; a too-long reason is shortened."""
    kept: list[common_pb2.Interest] = []
    seen: set[str] = set()
    for entry in mined:
        text = _SPACES.sub(" ", entry.interest).strip()
        key = normalise(text)
        if not key:
            _drop("empty")
        elif len(text) > INTEREST_MAX_CHARS:
            _drop("too_long")
        elif not _LETTER.search(key):
            _drop("no_letters")
        elif key in PLACEHOLDERS:
            _drop("placeholder")
        elif key in _ECHOES or _COPIED_LINE.search(text):
            _drop("echo")
        elif key in seen:
            _drop("duplicate")
        elif len(kept) >= limit:
            _drop("over_limit")
        else:
            seen.add(key)
            kept.append(common_pb2.Interest(interest=text, reason=_reason_text(entry.reason)))
    return kept
