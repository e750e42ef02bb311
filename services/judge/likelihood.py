"""Likelihood judging: does the artefact fit *this* context, by the model's own probabilities?

The score is pointwise mutual information, log P(text | context) - log P(text | the same question without
the context): an explanation must become more likely given the item's facts, a tag given the user's
behaviour. One forward pass per side through vLLM's prompt logprobs, no generation, so a tiny model that
passes every artefact by its verdicts still ranks them (see evaluation.judge_discrimination).
"""

from __future__ import annotations

from recgpt.common.v1 import common_pb2
from recgpt_domain.catalogue import Item
from recgpt_domain.prompt_text import clip, item_facts
from recgpt_serving.llm.client import LlmClient, Message

# The score's dimension in a judgement; it passes when the context makes the text more likely.
DIMENSION = "fits_context"
_SYSTEM = "You are a shop assistant who writes short, factual product notes."
_TEXT_CHARS, _DESCRIPTION_CHARS = 300, 200


def _messages(user: str) -> list[Message]:
    return [{"role": "system", "content": _SYSTEM}, {"role": "user", "content": user}]


def explanation_questions(interest: str, item: Item) -> tuple[list[Message], list[Message]]:
    """The question with the item's facts, and without them."""
    facts = "\n".join(item_facts(item, _TEXT_CHARS, _DESCRIPTION_CHARS))
    ask = (
        f"Write one sentence telling a shopper interested in {clip(interest, _TEXT_CHARS)} "
        "why this item suits them."
    )
    return _messages(f"Item facts:\n{facts}\n{ask}"), _messages(ask)


def tag_questions(behaviour: str, tag: common_pb2.Tag) -> tuple[list[Message], list[Message]]:
    """The question with the user's behaviour, and without it."""
    ask = "Name one product category this shopper will buy from next."
    if tag.interest:
        ask += f" They are interested in {clip(tag.interest, _TEXT_CHARS)}."
    return _messages(f"What the shopper did:\n{behaviour}\n{ask}"), _messages(ask)


async def pointwise_mutual_information(
    llm: LlmClient,
    agent: str,
    questions: tuple[list[Message], list[Message]],
    text: str,
    *,
    deadline_s: float | None = None,
) -> float:
    """log P(text | with context) - log P(text | without); raises LlmError like any LLM call."""
    with_context, without = questions
    return await llm.text_logprob(agent, with_context, text, deadline_s=deadline_s) - await llm.text_logprob(
        agent, without, text, deadline_s=deadline_s
    )
