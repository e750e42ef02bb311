"""What an LLM call cost, as the common protobuf message the agents answer with."""

from __future__ import annotations

from recgpt.common.v1 import common_pb2
from recgpt_serving.llm.errors import LlmError


def spent_usage(error: LlmError) -> common_pb2.LlmUsage:
    """What a failed LLM call still cost (an invalid answer was generated all the same)."""
    return common_pb2.LlmUsage(
        prompt_tokens=error.prompt_tokens,
        completion_tokens=error.completion_tokens,
        engine_seconds=error.latency_s,
    )
