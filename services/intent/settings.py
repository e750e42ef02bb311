"""Settings of the interest-mining service, read from `RECGPT_*` on top of the agent-service ones."""

from __future__ import annotations

from pydantic import Field

from recgpt_serving.agent_runner import AgentServiceSettings


class IntentSettings(AgentServiceSettings):
    """`RECGPT_MAX_INTERESTS` etc.; the LLM endpoints themselves come from `RECGPT_LLM_*`."""

    # Interests asked for when a request leaves max_interests at 0, and the most a request may get.
    max_interests: int = Field(default=12, ge=1)
    max_interests_limit: int = Field(default=20, ge=1)
    # 12 interests at the schema's length limits are ~12 * 50 tokens; the 135M model writes less.
    interest_max_tokens: int = Field(default=400, ge=32)
    interest_temperature: float = Field(default=0.2, ge=0)
    # Request limits (INVALID_ARGUMENT beyond them).
    max_user_id_chars: int = Field(default=128, ge=1)
    max_behaviour_entries: int = Field(default=1000, ge=1)
    # RecBot's command parser: request limits, the LLM call for what the rules leave (0 tokens: rules only).
    command_max_chars: int = Field(default=500, ge=1)
    command_max_feed_items: int = Field(default=200, ge=0)
    command_llm_deadline_s: float = Field(default=8.0, gt=0)
    command_max_tokens: int = Field(default=200, ge=0)
    # RecGPT-V2's planner: personas asked for by default (K) and at most, categories per persona, the
    # categories it may name per user (the user's own, what follows their last, the trends), its answer's
    # length, and the trends of its environment block (top categories over the log's last days).
    personas: int = Field(default=3, ge=1)
    max_personas: int = Field(default=6, ge=1)
    persona_max_categories: int = Field(default=3, ge=1)
    planner_choices: int = Field(default=30, ge=1)
    planner_max_tokens: int = Field(default=320, ge=32)
    planner_temperature: float = Field(default=0.3, ge=0)
    trend_days: int = Field(default=14, ge=1)
    trend_top: int = Field(default=5, ge=0)
    max_user_attributes: int = Field(default=20, ge=0)
