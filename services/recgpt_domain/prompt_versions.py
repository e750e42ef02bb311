"""The agents' prompt versions, in one place: an agent stamps its answers with its own, and the near-line
job compares a stored profile's with the current ones, so that a prompt change makes every profile stale.

Bump an agent's version whenever its prompt changes what the LLM is asked. Every version is a constant here
(an agent's prompts module takes its `PROMPT_VERSION` from this one), and no two are alike.
"""

from __future__ import annotations

from typing import Literal

INTERESTS_V1 = "interests-v1.0"
TAGS_V1 = "tags-v1.0"
# Choose mode asks another question (pick among the statistics' candidates), so its answers carry their own.
# Choose mode answers by the numbers of its list since v1.1 (`recgpt_domain.tag_choice.number_schema`).
TAGS_CHOOSE_V1 = "tags-choose-v1.1"
# v1.1: only the first sentence of an answer is kept.
EXPLAIN_V1 = "explain-v1.1"
# RecGPT-V2 meta-prompting: a style guideline first, then the explanation written to it. v2.1: the guideline
# is constrained choices (tone, quality, hook); the explanation is asked to name the item. v2.2: the last
# sample of the sentence opens with the item's short name (forced by its schema); the free ones are warmer.
# v2.3: a title's leading article ("The Hillman Group ...") is left out of the item's short name.
EXPLAIN_V2 = "explain-v2.3"
JUDGE_V1 = "judge-v1.0"
# RecGPT-V2 agent-as-a-judge: one sub-evaluator per dimension, then a senior reviewer.
JUDGE_V2 = "judge-v2.1"
# The judge's yes/no questions: a verdict adapter is trained on them (agent_training), so changing their
# wording makes a new version.
JUDGE_YES_NO_V1 = "judge-yes-no-v1"
# RecBot's command parser, the LLM half (intent.commands.llm).
COMMAND_PARSER_V1 = "command-parser-v1"
# RecGPT-V2's planner (intent), experts and arbiter (tags). The experts and the arbiter answer by the
# numbers of their lists since v2.1 (`recgpt_domain.tag_choice.number_schema`), the planner its categories.
PLANNER_V2 = "planner-v2.1"
TAG_EXPERT_V2 = "tag-expert-v2.1"
TAG_ARBITER_V2 = "tag-arbiter-v2.1"

# How the tag agent answers (`RECGPT_TAG_MODE`, tags.settings): rank mode scores the generate prompt.
TagMode = Literal["generate", "rank", "choose"]
TAG_PROMPT_VERSIONS: dict[str, str] = {"generate": TAGS_V1, "rank": TAGS_V1, "choose": TAGS_CHOOSE_V1}
# The best measured on held-out users (docs/results/2026-11-29-tag-choose-mode.md): choose mode over a pool
# of 20 candidates fell back for 1% of tag answers with the base model, generate mode for 64-70%.
DEFAULT_TAG_MODE: TagMode = "choose"
DEFAULT_TAG_POOL = 20

# The trainable agents by the names their adapter folders carry, and the prompt each is served: an adapter
# trained on another prompt is never chosen for it (recgpt_serving.llm.adapter_files.choose).
INTEREST_MINER = "interest_miner"
TAG_PREDICTOR = "tag_predictor"
EXPLAINER = "explainer"
JUDGE_VERDICT = "judge_verdict"
# RecGPT-V2's persona expert (tags), trained by GRPO on its own pools (agent_training).
TAG_EXPERT = "tag_expert"


def served_prompt_versions(tag_mode: TagMode = DEFAULT_TAG_MODE) -> dict[str, str]:
    """Each trainable agent's served prompt version, with the tag agent in `tag_mode`."""
    return {
        INTEREST_MINER: INTERESTS_V1,
        TAG_PREDICTOR: TAG_PROMPT_VERSIONS[tag_mode],
        EXPLAINER: EXPLAIN_V1,
        JUDGE_VERDICT: JUDGE_YES_NO_V1,
        TAG_EXPERT: TAG_EXPERT_V2,
    }


def profile_prompt_version(interests: str, tags: str) -> str:
    """A profile's combined prompt version, e.g. "interests=interests-v1.0;tags=tags-v1.0"."""
    return f"interests={interests};tags={tags}"


def current_profile_prompt_version(tag_mode: TagMode = DEFAULT_TAG_MODE) -> str:
    """What a RecGPT-V1 profile made by the current prompts records, with the tag agent in `tag_mode`."""
    return profile_prompt_version(INTERESTS_V1, TAG_PROMPT_VERSIONS[tag_mode])


def v2_profile_prompt_version(
    planner: str = PLANNER_V2, expert: str = TAG_EXPERT_V2, arbiter: str = TAG_ARBITER_V2
) -> str:
    """What a RecGPT-V2 profile records: the planner's, the experts' and the arbiter's prompt versions."""
    return f"planner={planner};experts={expert};arbiter={arbiter}"
