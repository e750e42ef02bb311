"""The JSON schema the interest miner must answer in, and its pydantic model.

Length and count limits are in the JSON schema that vLLM enforces while decoding, but the pydantic model
itself accepts over-long entries: `validation` drops them one by one instead of losing the whole answer.
"""

from __future__ import annotations

from functools import lru_cache

from pydantic import BaseModel, ConfigDict, Field, create_model

from recgpt_domain.behaviour_context import INTEREST_MAX_CHARS as INTEREST_MAX_CHARS

REASON_MAX_CHARS = 120


class MinedInterest(BaseModel):
    model_config = ConfigDict(json_schema_extra={"additionalProperties": False})

    interest: str = Field(json_schema_extra={"minLength": 1, "maxLength": INTEREST_MAX_CHARS})
    reason: str = Field(json_schema_extra={"maxLength": REASON_MAX_CHARS})


class InterestsAnswer(BaseModel):
    """The shape every answer validates into, whatever its item limit."""

    model_config = ConfigDict(json_schema_extra={"additionalProperties": False})

    interests: list[MinedInterest]


@lru_cache(maxsize=64)
def answer_schema(max_items: int) -> type[InterestsAnswer]:
    """`InterestsAnswer` whose JSON schema allows 1 to `max_items` interests (one class per limit)."""
    return create_model(
        f"Interests{max_items}",
        __base__=InterestsAnswer,
        interests=(
            list[MinedInterest],
            Field(json_schema_extra={"minItems": 1, "maxItems": max_items}),
        ),
    )
