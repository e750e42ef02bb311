"""The JSON schemas the judge answers in: one boolean per criterion of the artefact, and a short reason."""

from __future__ import annotations

from pydantic import BaseModel, Field


class InterestAnswer(BaseModel):
    relevance: bool
    specificity: bool
    reason: str = Field(default="", max_length=100)


class TagAnswer(BaseModel):
    relevance: bool
    specificity: bool
    validity: bool
    reason: str = Field(default="", max_length=100)


class ExplanationAnswer(BaseModel):
    relevance: bool
    grounded: bool
    reason: str = Field(default="", max_length=100)


Answer = InterestAnswer | TagAnswer | ExplanationAnswer
