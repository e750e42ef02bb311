"""The JSON schema the tag predictor answers in, and its pydantic model.

The JSON schema (what vLLM enforces while decoding) is tight: lengths, counts, and the interest as an
enum of the request's interests. The pydantic model accepts more, so that `validation` drops bad entries
one by one (and counts them) instead of losing the whole answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, create_model

from recgpt_domain.category_tags import TAG_MAX_CHARS

INTEREST_MAX_CHARS = 60
RATIONALE_MAX_CHARS = 100


class PredictedTag(BaseModel):
    model_config = ConfigDict(json_schema_extra={"additionalProperties": False})

    tag: str = Field(json_schema_extra={"minLength": 3, "maxLength": TAG_MAX_CHARS})
    interest: str = Field(json_schema_extra={"maxLength": INTEREST_MAX_CHARS})
    rationale: str = Field(json_schema_extra={"maxLength": RATIONALE_MAX_CHARS})


class TagsAnswer(BaseModel):
    """The shape every answer validates into, whatever the request's limits."""

    model_config = ConfigDict(json_schema_extra={"additionalProperties": False})

    tags: list[PredictedTag]


def answer_schema(max_items: int, interests: Sequence[str]) -> type[TagsAnswer]:
    """`TagsAnswer` whose JSON schema allows 1 to `max_items` tags, each tied to one of `interests`."""
    choices = list(dict.fromkeys(interests))

    def tie_to_request(schema: dict[str, Any]) -> None:
        schema["additionalProperties"] = False
        schema["properties"]["interest"] = {"title": "Interest", "type": "string", "enum": choices}

    class RequestTag(PredictedTag):
        model_config = ConfigDict(json_schema_extra=tie_to_request)

    return create_model(
        f"Tags{max_items}",
        __base__=TagsAnswer,
        tags=(
            list[RequestTag],
            Field(json_schema_extra={"minItems": 1, "maxItems": max_items}),
        ),
    )
