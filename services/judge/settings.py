"""Settings of the judge service, read from `RECGPT_*` on top of the agent-service ones."""

from __future__ import annotations

from pydantic import Field

from recgpt_domain import grounding
from recgpt_serving.agent_runner import AgentServiceSettings


class JudgeSettings(AgentServiceSettings):
    """`RECGPT_JUDGE_BEHAVIOUR_BUDGET_TOKENS` etc.; the LLM itself comes from `RECGPT_LLM_*`."""

    max_parallel_llm_calls: int = Field(default=16, ge=1)
    # The judge reads a shorter behaviour than the agents it judges: enough to tell relevance.
    judge_behaviour_budget_tokens: int = Field(default=600, ge=64)
    # Length bounds of the rule-based grounding check; the explain service's bounds.
    max_words: int = Field(default=grounding.MAX_WORDS, ge=5)
    max_chars: int = Field(default=grounding.MAX_CHARS, ge=40)
    # Likelihood judging (recgpt_serving.llm.likelihood): a "fits_context" dimension that passes when the
    # item's facts (the user's behaviour, for a tag) make the artefact more likely by at least this many
    # nats; off: the verdict is the prompt's booleans and the grounding rule alone. Measured by
    # make judge-discrimination.
    judge_likelihood: bool = False
    judge_likelihood_margin: float = 0.0
    # The yes/no verdict as log-odds (recgpt_serving.llm.likelihood.yes_log_odds), asked of the verdict agent
    # (`judge_verdict`: its trained adapter where one is served, `make train-sft AGENT=judge`): a "verdict"
    # dimension that passes when log P(Yes) - log P(No) exceeds the margin. Off until measured.
    judge_verdict: bool = False
    judge_verdict_margin: float = 0.0
