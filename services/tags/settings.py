"""Settings of the tag-prediction service, read from `RECGPT_*` on top of the agent-service ones."""

from __future__ import annotations

from pydantic import Field

from recgpt_domain.category_map import TagMappingSettings
from recgpt_domain.persona_tags import EXPERT_BUDGET_TOKENS, EXPERT_NEAR, EXPERT_POOL, EXPERT_TAGS
from recgpt_domain.prompt_versions import DEFAULT_TAG_MODE, DEFAULT_TAG_POOL, TagMode
from recgpt_serving.agent_runner import AgentServiceSettings


class TagsSettings(AgentServiceSettings, TagMappingSettings):
    """`RECGPT_MAX_TAGS`, `RECGPT_TAG_MIN_CATEGORY_SCORE` etc.; the LLM itself comes from `RECGPT_LLM_*`."""

    # Tags asked for when a request leaves max_tags at 0, and the most a request may get.
    max_tags: int = Field(default=24, ge=1)
    max_tags_limit: int = Field(default=50, ge=1)
    # A tag at the schema's length limits is ~50 tokens of JSON; the 135M model writes shorter ones.
    tag_max_tokens: int = Field(default=1200, ge=32)
    tag_temperature: float = Field(default=0.2, ge=0)
    # "generate": the LLM writes tags, mapped to categories by embedding. "rank": the LLM orders the
    # categories the statistics propose for the user by its likelihood (`recgpt_domain.tag_ranking`): every
    # tag names a category, at the cost of one prompt-logprobs request per candidate (vLLM recomputes the
    # prompt for each: prompt logprobs skip its prefix cache). "choose": the LLM picks among those categories
    # in one answer constrained to their names (`recgpt_domain.tag_choice`). Choose is the default: it falls
    # back least (prompt_versions.DEFAULT_TAG_MODE).
    tag_mode: TagMode = DEFAULT_TAG_MODE
    # Candidates ranked or offered per user: the statistics' top categories (offline: the target is among the
    # top 60 for 0.545 of Amazon evaluation users, in their top 30 for 0.420). 20 keeps choose mode's prompt
    # near 460 tokens, which the CPU engine answers in time; 60 doubles it.
    tag_rank_pool: int = Field(default=DEFAULT_TAG_POOL, ge=1, le=200)
    # Serve the model's order fused with the statistics' (reciprocal ranks), rather than the model's alone.
    tag_rank_fuse_statistics: bool = True
    # Scoring requests of one answer in flight at once.
    tag_rank_concurrency: int = Field(default=64, ge=1)
    # More of the caller's deadline kept back than other agents: checking and mapping tags embeds them.
    llm_deadline_margin_s: float = Field(default=0.5, ge=0)
    # A tag's interest that is not one of the request's is re-tied to the most similar one at this cosine.
    tag_interest_min_score: float = Field(default=0.6, ge=-1, le=1)
    # A tag this close to the title of an item the user already has names that item: dropped.
    owned_item_min_score: float = Field(default=0.9, ge=-1, le=1)
    # How many of the user's most recent distinct items the owned-item check compares with.
    owned_check_items: int = Field(default=50, ge=0)
    # Request limits (INVALID_ARGUMENT beyond them).
    max_user_id_chars: int = Field(default=128, ge=1)
    max_behaviour_entries: int = Field(default=1000, ge=1)
    max_request_interests: int = Field(default=50, ge=1)
    max_interest_chars: int = Field(default=200, ge=1)
    max_map_tags: int = Field(default=200, ge=1)
    max_map_tag_chars: int = Field(default=200, ge=1)
    # RecGPT-V2's experts: picks asked of each, its pool (the persona's categories, their followers, the
    # categories nearest its text: `near` of those), and the latest behaviour each reads; the arbiter's N, the
    # behaviour it reads, and the most candidates and persona categories a request may bring.
    # The defaults are the domain's, which the experts' training examples copy.
    expert_tags: int = Field(default=EXPERT_TAGS, ge=1)
    expert_pool: int = Field(default=EXPERT_POOL, ge=1, le=60)
    expert_near: int = Field(default=EXPERT_NEAR, ge=0)
    expert_budget_tokens: int = Field(default=EXPERT_BUDGET_TOKENS, ge=16)
    expert_max_tokens: int = Field(default=300, ge=32)
    arbiter_tags: int = Field(default=20, ge=1)
    arbiter_budget_tokens: int = Field(default=600, ge=64)
    arbiter_max_tokens: int = Field(default=600, ge=32)
    max_arbiter_candidates: int = Field(default=200, ge=1)
    max_persona_categories: int = Field(default=10, ge=1)
    max_persona_chars: int = Field(default=200, ge=1)
