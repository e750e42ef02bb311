"""Settings of the explain service, read from `RECGPT_*` on top of the agent-service ones."""

from __future__ import annotations

from pydantic import Field

from explain import prompts
from recgpt_domain import grounding
from recgpt_serving.agent_runner import AgentServiceSettings

_DAY_S = 24 * 3600


class ExplainSettings(AgentServiceSettings):
    """`RECGPT_MAX_WORDS`, `RECGPT_EXPLANATION_TTL_S` etc.; the LLM itself comes from `RECGPT_LLM_*`."""

    # Length bounds of one explanation; longer LLM output falls back to the template.
    max_words: int = Field(default=grounding.MAX_WORDS, ge=5)
    max_chars: int = Field(default=grounding.MAX_CHARS, ge=40, le=200)
    explanation_ttl_s: int = Field(default=30 * _DAY_S, ge=60)
    # Fallbacks are cached too (marked), shorter, so the near-line job retries them but not on every pass.
    explanation_fallback_ttl_s: int = Field(default=_DAY_S, ge=60)
    max_parallel_llm_calls: int = Field(default=16, ge=1)
    # RecGPT-V2 meta-prompting's sampling (why these values: explain.prompts).
    style_temperature: float = Field(default=prompts.STYLE_TEMPERATURE, ge=0, le=2)
    guided_temperature: float = Field(default=prompts.GUIDED_TEMPERATURE, ge=0, le=2)
    frequency_penalty: float = Field(default=prompts.FREQUENCY_PENALTY, ge=0, le=2)
    # Samples of the sentence per guideline: one the rules reject (too long, cut, names nothing of the item)
    # is written again, up to this many times, before the V1 path answers; the engine's failures are not.
    sentence_attempts: int = Field(default=3, ge=1, le=4)
    # The last resample's schema forces its opening, "The <the item's short name> ", and one sentence
    # (explain.prompts.named_sentence_schema): it falls back least, but one item's sentences read alike, so
    # only the last sample (docs/results: meta-prompting's named resample).
    named_resample: bool = True
    named_temperature: float = Field(default=prompts.NAMED_TEMPERATURE, ge=0, le=2)
