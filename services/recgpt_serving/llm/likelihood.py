"""Likelihood scoring through the engine's logprobs: does a text fit a context, by the model's own
probabilities? One forward pass per side, no generation, so a tiny model that passes every artefact by its
verdicts still ranks them. The judge serves these scores; the evaluation and the judge's training read them.

The score is pointwise mutual information, log P(text | context) - log P(text | the same question without
the context); a verdict is log P(Yes) - log P(No) of the answer's first token.
"""

from __future__ import annotations

from recgpt_serving.llm.client import LlmClient, Message

# Floor of a verdict token missing from the top logprobs.
_MISSING_LOGPROB = -30.0


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


async def yes_log_odds(
    llm: LlmClient, agent: str, messages: list[Message], *, deadline_s: float | None = None
) -> float:
    """log P(Yes) - log P(No) of the answer's first token: the verdict as a likelihood, not a coin."""
    top = await llm.next_token_logprobs(agent, messages, deadline_s=deadline_s)

    def best(word: str) -> float:
        found = [lp for token, lp in top.items() if token.strip().casefold() == word]
        return max(found) if found else _MISSING_LOGPROB

    return best("yes") - best("no")
