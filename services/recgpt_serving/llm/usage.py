"""What LLM calls cost: as the common protobuf message the agents answer with, and summed over calls."""

from __future__ import annotations

from dataclasses import dataclass

from recgpt.common.v1 import common_pb2
from recgpt_serving.llm.errors import LlmError


def spent_usage(error: LlmError) -> common_pb2.LlmUsage:
    """What a failed LLM call still cost (an invalid answer was generated all the same)."""
    return common_pb2.LlmUsage(
        prompt_tokens=error.prompt_tokens,
        completion_tokens=error.completion_tokens,
        engine_seconds=error.latency_s,
    )


@dataclass
class Usage:
    """The `LlmUsage` replies of many calls summed, e.g. over a near-line run or an evaluated user."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    engine_seconds: float = 0.0

    def add(self, usage: common_pb2.LlmUsage) -> None:
        self.prompt_tokens += usage.prompt_tokens
        self.completion_tokens += usage.completion_tokens
        self.engine_seconds += usage.engine_seconds

    def add_call(self, prompt_tokens: int, completion_tokens: int, seconds: float) -> None:
        """One call's counts, as a result or an error reports them."""
        self.prompt_tokens += prompt_tokens
        self.completion_tokens += completion_tokens
        self.engine_seconds += seconds

    def merge(self, other: Usage) -> None:
        self.prompt_tokens += other.prompt_tokens
        self.completion_tokens += other.completion_tokens
        self.engine_seconds += other.engine_seconds
