"""LLM cost summed over calls, from the services' `LlmUsage` replies."""

from __future__ import annotations

from dataclasses import dataclass

from recgpt.common.v1 import common_pb2


@dataclass
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    engine_seconds: float = 0.0

    def add(self, usage: common_pb2.LlmUsage) -> None:
        self.prompt_tokens += usage.prompt_tokens
        self.completion_tokens += usage.completion_tokens
        self.engine_seconds += usage.engine_seconds

    def merge(self, other: Usage) -> None:
        self.prompt_tokens += other.prompt_tokens
        self.completion_tokens += other.completion_tokens
        self.engine_seconds += other.engine_seconds
