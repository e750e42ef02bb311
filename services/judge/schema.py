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


# Agent-as-a-judge (RecGPT-V2): each sub-evaluator answers for its one dimension; the senior reviewer grades
# an artefact every member passed. Defects are the members' (and the rules') to find: any is Bad without the
# reviewer, so its schema has no Bad, and a small reviewer can no longer call Bad what every member passed.
class DimensionAnswer(BaseModel):
    passed: bool
    reason: str = Field(default="", max_length=100)


class Review(BaseModel):
    verdict: Literal["superior", "average"]
    reason: str = Field(default="", max_length=100)
