"""The JSON schemas the explainer answers in: enforced by vLLM and validated again here."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

# The longest explanation string the schema lets vLLM decode; a string that reaches it was cut.
EXPLANATION_MAX_CHARS = 200


class ExplanationAnswer(BaseModel):
    explanation: str = Field(min_length=1, max_length=EXPLANATION_MAX_CHARS)


class StyleAnswer(BaseModel):
    """RecGPT-V2's first step: how to write the explanation, as choices only (no free text to ramble in).
    `stress` and `hook` are narrowed per call to the item's qualities and the situation's parts
    (explain.prompts.style_schema)."""

    tone: Literal["warm", "practical", "enthusiastic", "calm", "confident", "friendly"]
    stress: str
    hook: str
