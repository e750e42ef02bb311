"""Tags chosen from the statistics' candidates: one generation, its every pick constrained to their numbers.
The choice's schema and how an answer is read live here, where the tag service and its training share
them; the prompts are the tag agent's (`tags.prompts`).

Generate mode's free tags are long answers (a tag, an interest and a rationale each), and on a CPU engine most
time out; half of the rest map to no category. Ranking mode names a category with every tag, but costs one
prompt-logprobs request per candidate. Choose mode (`RECGPT_TAG_MODE=choose`) keeps the first's single
request and the second's exact categories: the statistics propose the user's candidates
(`ranking.Candidates`), the prompt lists them numbered by their category tags, and vLLM's structured output
lets each pick of the answer be only one of those numbers (a JSON-schema enum). The answer is the model's
picks in its order, nothing added: the list the statistics would serve is the fallback, and the evaluation
tops the picks up to compare. RecGPT-V2's planner, experts and arbiter answer the same way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, create_model


def category_named(name: str, categories_by_name: Mapping[str, str]) -> str | None:
    """The category a chosen name names: the name exactly, but for its spacing; None for any other text."""
    return categories_by_name.get(" ".join(name.split()))


def chosen_categories(answer: Sequence[str], categories_by_name: Mapping[str, str], limit: int) -> list[str]:
    """The categories the answer names, in its order, each once, at most `limit`; names outside the pool
    (the schema forbids them, but an answer is untrusted) are dropped."""
    chosen: list[str] = []
    for name in answer:
        category = category_named(name, categories_by_name)
        if category is not None and category not in chosen:
            chosen.append(category)
        if len(chosen) == limit:
            break
    return chosen


# Answers by the numbers of a numbered list (as listwise rerankers name passages by identifiers): a pick costs
# two or three tokens to decode where a category tag costs ten to fifteen, and decoding, not reading, is most
# of an engine's time on these short prompts.
class ChosenNumbers(BaseModel):
    """A numbered choice's answer: the listed names' numbers (from 1), which `named_by_numbers` reads."""

    model_config = ConfigDict(json_schema_extra={"additionalProperties": False})

    tags: list[int]


def numbered(names: Sequence[str], first: int = 1) -> str:
    """The prompt's list of `names`, one a line, numbered from `first`."""
    return "\n".join(f"{number}. {name}" for number, name in enumerate(names, first))


def number_schema(count: int, max_items: int) -> type[ChosenNumbers]:
    """`ChosenNumbers` whose JSON schema allows 1 to `max_items` numbers, each from 1 to `count`."""

    def only_numbers(schema: dict[str, Any]) -> None:
        schema["additionalProperties"] = False
        schema["properties"]["tags"]["items"] = {"type": "integer", "enum": list(range(1, count + 1))}

    return create_model(
        f"ChosenNumbers{count}x{max_items}",
        __base__=ChosenNumbers,
        __config__=ConfigDict(json_schema_extra=only_numbers),
        tags=(list[int], Field(json_schema_extra={"minItems": 1, "maxItems": max_items})),
    )


def named_by_numbers(numbers: Sequence[int], names: Sequence[str]) -> list[str]:
    """The names the numbers point at, in the answer's order; a number outside the list (the schema forbids
    it, but an answer is untrusted) becomes the empty name, which names no category."""
    return [names[number - 1] if 1 <= number <= len(names) else "" for number in numbers]
