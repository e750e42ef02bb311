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
# The yes/no verdict's dimension; it passes when Yes is likelier than No by the margin.
VERDICT_DIMENSION = "verdict"
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
    given = await llm.text_logprob(agent, with_context, text, deadline_s=deadline_s)
    alone = await llm.text_logprob(agent, without, text, deadline_s=deadline_s)
    return given.value - alone.value


# The yes/no questions' version: a verdict adapter is trained on them (agent_training), so changing their
# wording makes a new version.
YES_NO_VERSION = "judge-yes-no-v1"
# The agent that answers them, apart from the judge's criteria prompt: its adapters (var/adapters/<this>/) are
# trained on these questions alone, so the criteria prompt never gets one.
VERDICT_AGENT = "judge_verdict"
# Floor of a verdict token missing from the top logprobs.
_MISSING_LOGPROB = -30.0


def yes_no_explanation(interest: str, item: Item, text: str) -> list[Message]:
    facts = "\n".join(item_facts(item, _TEXT_CHARS, _DESCRIPTION_CHARS))
    return _messages(
        f"Item facts:\n{facts}\nShopper interest: {clip(interest, _TEXT_CHARS)}\n"
        f"Explanation: {clip(text, _TEXT_CHARS)}\n"
        "Is this explanation about this very item and true to its facts? Answer Yes or No."
    )


def yes_no_tag(behaviour: str, tag: common_pb2.Tag) -> list[Message]:
    return _messages(
        f"What the shopper did:\n{behaviour}\nProposed product tag: {clip(tag.tag, _TEXT_CHARS)}\n"
        "Does this tag fit what this shopper buys? Answer Yes or No."
    )


async def yes_log_odds(
    llm: LlmClient, agent: str, messages: list[Message], *, deadline_s: float | None = None
) -> float:
    """log P(Yes) - log P(No) of the answer's first token: the verdict as a likelihood, not a coin."""
    top = await llm.next_token_logprobs(agent, messages, deadline_s=deadline_s)

    def best(word: str) -> float:
        found = [lp for token, lp in top.items() if token.strip().casefold() == word]
        return max(found) if found else _MISSING_LOGPROB

    return best("yes") - best("no")
