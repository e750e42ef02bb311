"""What an LLM call can fail with; every caller catches `LlmError` and falls back to a non-LLM answer."""

from __future__ import annotations


class LlmError(Exception):
    """Base of every LLM call failure.

    What a failed call still cost: an answer that arrived but did not validate used the engine all the same,
    so its tokens and time are set here and callers add them to their usage (0 when nothing came back).
    """

    outcome = "error"
    prompt_tokens = 0
    completion_tokens = 0
    latency_s = 0.0


class LlmTimeoutError(LlmError):
    """The call's deadline passed (retry included) before a complete answer arrived."""

    outcome = "timeout"


class LlmUnavailableError(LlmError):
    """No worker took the request, or the one that did broke off its answer."""

    outcome = "unavailable"


class LlmRequestError(LlmError):
    """A worker rejected the request itself (4xx): retrying elsewhere would not help."""

    outcome = "rejected"

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"LLM worker rejected the request with {status}: {detail}")
        self.status = status


class LlmOutputError(LlmError):
    """The answer did not validate: empty, not JSON, or not matching the schema."""

    outcome = "invalid_output"

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"invalid LLM output ({reason}): {detail}")
        self.reason = reason
