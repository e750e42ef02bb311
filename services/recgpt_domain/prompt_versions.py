"""The agents' prompt versions, in one place: an agent stamps its answers with its own, and the near-line
job compares a stored profile's with the current ones, so that a prompt change makes every profile stale.

Bump an agent's version whenever its prompt changes what the LLM is asked.
"""

from __future__ import annotations

from typing import Literal

INTERESTS_V1 = "interests-v1.0"
TAGS_V1 = "tags-v1.0"
# Choose mode asks another question (pick among the statistics' candidates), so its answers carry their own.
TAGS_CHOOSE_V1 = "tags-choose-v1.0"

# How the tag agent answers (`RECGPT_TAG_MODE`, tags.settings): rank mode scores the generate prompt.
TagMode = Literal["generate", "rank", "choose"]
TAG_PROMPT_VERSIONS: dict[str, str] = {"generate": TAGS_V1, "rank": TAGS_V1, "choose": TAGS_CHOOSE_V1}


def profile_prompt_version(interests: str, tags: str) -> str:
    """A profile's combined prompt version, e.g. "interests=interests-v1.0;tags=tags-v1.0"."""
    return f"interests={interests};tags={tags}"


def current_profile_prompt_version(tag_mode: TagMode = "generate") -> str:
    """What a RecGPT-V1 profile made by the current prompts records, with the tag agent in `tag_mode`."""
    return profile_prompt_version(INTERESTS_V1, TAG_PROMPT_VERSIONS[tag_mode])
