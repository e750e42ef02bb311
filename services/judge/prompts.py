"""The RecGPT-V1 judge prompts: one call per artefact, answered as a few booleans and a short reason."""

from __future__ import annotations

from dataclasses import dataclass

from judge.schema import Answer, ExplanationAnswer, InterestAnswer, TagAnswer
from recgpt.common.v1 import common_pb2
from recgpt_domain.catalogue import Item
from recgpt_domain.prompt_text import clip, item_facts
from recgpt_serving.llm.client import Message

# The agent's name in metrics and LLM logs.
AGENT = "judge"
PROMPT_VERSION = "judge-v1.0"
MAX_TOKENS = 60
_TEXT_CHARS = 300
_DESCRIPTION_CHARS = 200

_SYSTEM = (
    "You are a strict reviewer of a shop's recommendation system. Judge the artefact against each "
    "criterion with true or false, and give a short reason."
)


@dataclass(frozen=True)
class Task:
    """One judge call: its messages, the answer's schema and the criteria (the schema's booleans)."""

    messages: list[Message]
    schema: type[Answer]
    dimensions: tuple[str, ...]


def _task(user: str, schema: type[Answer], criteria: dict[str, str]) -> Task:
    lines = "\n".join(f"- {name}: {question}" for name, question in criteria.items())
    keys = ", ".join(f'"{name}": true|false' for name in criteria)
    content = f'{user}\nCriteria:\n{lines}\nAnswer as JSON {{{keys}, "reason": "<at most 15 words>"}}.'
    return Task(
        messages=[{"role": "system", "content": _SYSTEM}, {"role": "user", "content": content}],
        schema=schema,
        dimensions=tuple(criteria),
    )


def interest(behaviour: str, subject: common_pb2.Interest) -> Task:
    user = f"User behaviour:\n{behaviour}\nMined interest: {clip(subject.interest, _TEXT_CHARS)}"
    return _task(
        user,
        InterestAnswer,
        {
            "relevance": "does the behaviour support this interest?",
            "specificity": "is it specific enough to pick products (not just 'shopping')?",
        },
    )


def tag(behaviour: str, subject: common_pb2.Tag) -> Task:
    user = f"User behaviour:\n{behaviour}\nPredicted item tag: {clip(subject.tag, _TEXT_CHARS)}"
    if subject.interest:
        user += f"\nFor the interest: {clip(subject.interest, _TEXT_CHARS)}"
    return _task(
        user,
        TagAnswer,
        {
            "relevance": "does the tag fit the behaviour and the interest?",
            "specificity": "does it name a specific kind of product?",
            "validity": "is it a real product tag, modifier + core word (e.g. 'waterproof duct tape')?",
        },
    )


def explanation(interest_text: str, item: Item, text: str) -> Task:
    facts = item_facts(item, _TEXT_CHARS, _DESCRIPTION_CHARS)
    user = (
        f"User interest: {clip(interest_text, _TEXT_CHARS)}\nItem facts:\n"
        + "\n".join(facts)
        + f"\nExplanation shown to the user: {clip(text, _TEXT_CHARS)}"
    )
    return _task(
        user,
        ExplanationAnswer,
        {
            "relevance": "does the explanation connect the interest and this item?",
            "grounded": "does it state only facts of the item above?",
        },
    )
