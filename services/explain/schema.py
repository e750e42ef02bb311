"""The JSON schema the explainer answers in: one sentence, enforced by vLLM and validated again here."""

from __future__ import annotations

from pydantic import BaseModel, Field


class ExplanationAnswer(BaseModel):
    explanation: str = Field(min_length=1, max_length=200)


class StyleAnswer(BaseModel):
    """RecGPT-V2's first step: how to write the explanation (tone, what to stress), no product facts."""

    guideline: str = Field(min_length=1, max_length=240)
