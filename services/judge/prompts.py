"""The judge prompts: RecGPT-V1's one call per artefact (a few booleans and a short reason), and RecGPT-V2's
agent-as-a-judge (one call per quality dimension, then a senior reviewer)."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel

from judge.schema import Answer, DimensionAnswer, ExplanationAnswer, InterestAnswer, Review, TagAnswer
from recgpt.common.v1 import common_pb2
from recgpt_domain.catalogue import Item
from recgpt_domain.prompt_text import clip, item_facts
from recgpt_domain.prompt_versions import JUDGE_V1, JUDGE_V2, JUDGE_YES_NO_V1
from recgpt_serving.llm.client import Message

# The agent's name in metrics and LLM logs.
AGENT = "judge"
PROMPT_VERSION = JUDGE_V1
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


# Likelihood judging (recgpt_serving.llm.likelihood scores these): the question with the context and
# without it, and the yes/no questions a verdict adapter is trained on.
# The score's dimension in a judgement; it passes when the context makes the text more likely.
DIMENSION = "fits_context"
# The yes/no verdict's dimension; it passes when Yes is likelier than No by the margin.
VERDICT_DIMENSION = "verdict"
_LIKELIHOOD_SYSTEM = "You are a shop assistant who writes short, factual product notes."


def _likelihood_messages(user: str) -> list[Message]:
    return [{"role": "system", "content": _LIKELIHOOD_SYSTEM}, {"role": "user", "content": user}]


def explanation_questions(interest: str, item: Item) -> tuple[list[Message], list[Message]]:
    """The question with the item's facts, and without them."""
    facts = "\n".join(item_facts(item, _TEXT_CHARS, _DESCRIPTION_CHARS))
    ask = (
        f"Write one sentence telling a shopper interested in {clip(interest, _TEXT_CHARS)} "
        "why this item suits them."
    )
    return _likelihood_messages(f"Item facts:\n{facts}\n{ask}"), _likelihood_messages(ask)


def tag_questions(behaviour: str, tag: common_pb2.Tag) -> tuple[list[Message], list[Message]]:
    """The question with the user's behaviour, and without it."""
    ask = "Name one product category this shopper will buy from next."
    if tag.interest:
        ask += f" They are interested in {clip(tag.interest, _TEXT_CHARS)}."
    return _likelihood_messages(f"What the shopper did:\n{behaviour}\n{ask}"), _likelihood_messages(ask)


# The yes/no questions' version: a verdict adapter is trained on them (agent_training), so changing their
# wording makes a new version.
YES_NO_VERSION = JUDGE_YES_NO_V1
# The agent that answers them, apart from the judge's criteria prompt: its adapters (var/adapters/<this>/) are
# trained on these questions alone, so the criteria prompt never gets one.
VERDICT_AGENT = "judge_verdict"


def yes_no_explanation(interest: str, item: Item, text: str) -> list[Message]:
    facts = "\n".join(item_facts(item, _TEXT_CHARS, _DESCRIPTION_CHARS))
    return _likelihood_messages(
        f"Item facts:\n{facts}\nShopper interest: {clip(interest, _TEXT_CHARS)}\n"
        f"Explanation: {clip(text, _TEXT_CHARS)}\n"
        "Is this explanation about this very item and true to its facts? Answer Yes or No."
    )


def yes_no_tag(behaviour: str, tag: common_pb2.Tag) -> list[Message]:
    return _likelihood_messages(
        f"What the shopper did:\n{behaviour}\nProposed product tag: {clip(tag.tag, _TEXT_CHARS)}\n"
        "Does this tag fit what this shopper buys? Answer Yes or No."
    )


# Agent-as-a-judge (RecGPT-V2): one short call per dimension that no rule settled (recgpt_domain.judge_panel),
# then the senior reviewer over their findings.
PANEL_PROMPT_VERSION = JUDGE_V2
# Room for the whole answer at its schema's longest (a 100-character reason is up to ~45 tokens of odd
# words, the JSON around it ~15): a budget below that cuts the string, and the member answers outside its
# schema.
SUB_MAX_TOKENS = 72
REVIEW_MAX_TOKENS = 72
_SUB_SYSTEM = (
    "You are one member of a review panel for a shop's recommendations. You judge ONE quality only, "
    "strictly: answer passed=false when in doubt, with a reason of at most 12 words."
)
_REVIEW_SYSTEM = (
    "You are the senior reviewer of a shop's recommendation panel. Every panel member passed the artefact "
    "on its quality. Grade it: superior (specific, vivid, clearly worth showing) or average (correct but "
    "plain)."
)
EXPLANATION_QUESTIONS: dict[str, str] = {
    "relevance": "Is the explanation about this very item, and does it link it to the shopper's interest?",
    "factuality": "Does it state only facts of the item facts (no other brand, size, number or feature)?",
    "clarity": "Is it one clear, fluent sentence a shopper understands at once?",
    "safety": "Is it free of anything offensive, discriminatory, or unsafe advice?",
    "timeliness": "Does it suit the shopper's situation (season, time of day) and not contradict it?",
    "informativeness": "Does it tell something specific about the item beyond its category?",
    "attractiveness": "Is it engaging, so that the shopper wants to look at the item?",
}
TAG_QUESTIONS: dict[str, str] = {
    "relevance": "Does the tag fit what this shopper did and buys?",
    "consistency": "Is the tag consistent with the interest it was written for (or the behaviour, if none)?",
    "specificity": "Does it name a specific kind of product, not a vague theme?",
    "validity": "Is it a real product tag, modifier + core word (e.g. 'waterproof duct tape')?",
}


@dataclass(frozen=True)
class PanelTask:
    """One sub-evaluator's or the reviewer's call."""

    messages: list[Message]
    schema: type[BaseModel]
    max_tokens: int


def _sub_task(context: str, dimension: str, question: str) -> PanelTask:
    answer = 'Answer as JSON {"passed": true|false, "reason": "..."}.'
    user = f"{context}\nQuality: {dimension}. {question}\n{answer}"
    return PanelTask(
        [{"role": "system", "content": _SUB_SYSTEM}, {"role": "user", "content": user}],
        DimensionAnswer,
        SUB_MAX_TOKENS,
    )


def explanation_context(interest: str, item: Item, text: str, situation: str = "") -> str:
    facts = "\n".join(item_facts(item, _TEXT_CHARS, _DESCRIPTION_CHARS))
    context = f"User interest: {clip(interest, _TEXT_CHARS)}\nItem facts:\n{facts}"
    if situation:
        context += f"\nShopper's situation: {clip(situation, _TEXT_CHARS)}"
    return context + f"\nExplanation shown to the user: {clip(text, _TEXT_CHARS)}"


def tag_context(behaviour: str, tag: common_pb2.Tag) -> str:
    context = f"User behaviour:\n{behaviour}\nPredicted item tag: {clip(tag.tag, _TEXT_CHARS)}"
    if tag.interest:
        context += f"\nFor the interest: {clip(tag.interest, _TEXT_CHARS)}"
    return context


def explanation_sub_evaluation(context: str, dimension: str) -> PanelTask:
    """`context` from explanation_context; `dimension` one of EXPLANATION_QUESTIONS."""
    return _sub_task(context, dimension, EXPLANATION_QUESTIONS[dimension])


def tag_sub_evaluation(context: str, dimension: str) -> PanelTask:
    return _sub_task(context, dimension, TAG_QUESTIONS[dimension])


def review(context: str, findings: list[tuple[str, str]]) -> PanelTask:
    """The reviewer's call over (dimension, member's reason) of an artefact every member passed."""
    lines = "\n".join(
        f"- {dimension}: passed ({clip(reason, 80) or 'no reason given'})" for dimension, reason in findings
    )
    user = (
        f"{context}\nPanel findings:\n{lines}\n"
        'Answer as JSON {"verdict": "superior"|"average", "reason": "..."}.'
    )
    return PanelTask(
        [{"role": "system", "content": _REVIEW_SYSTEM}, {"role": "user", "content": user}],
        Review,
        REVIEW_MAX_TOKENS,
    )
