"""The JSON schemas the judge answers in: one boolean per criterion of the artefact, and a short reason."""

from __future__ import annotations

from typing import Literal

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


# Agent-as-a-judge (RecGPT-V2): each sub-evaluator answers for its one dimension, the senior reviewer with a
# verdict; the failing dimensions it may name are the subject's own (anything else is outside its schema).
class DimensionAnswer(BaseModel):
    passed: bool
    reason: str = Field(default="", max_length=100)


ExplanationDimension = Literal[
    "relevance", "factuality", "clarity", "safety", "timeliness", "informativeness", "attractiveness"
]
TagDimension = Literal["relevance", "consistency", "specificity", "validity"]


class ExplanationReview(BaseModel):
    verdict: Literal["superior", "average", "bad"]
    failing: list[ExplanationDimension] = Field(default_factory=list, max_length=7)
    reason: str = Field(default="", max_length=100)


class TagReview(BaseModel):
    verdict: Literal["superior", "average", "bad"]
    failing: list[TagDimension] = Field(default_factory=list, max_length=4)
    reason: str = Field(default="", max_length=100)


Review = ExplanationReview | TagReview
