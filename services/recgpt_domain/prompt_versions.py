"""The agents' prompt versions, in one place: an agent stamps its answers with its own, and the near-line
job compares a stored profile's with the current ones, so that a prompt change makes every profile stale.

Bump an agent's version whenever its prompt changes what the LLM is asked.
"""

from __future__ import annotations

INTERESTS_V1 = "interests-v1.0"
TAGS_V1 = "tags-v1.0"


def profile_prompt_version(interests: str, tags: str) -> str:
    """A profile's combined prompt version, e.g. "interests=interests-v1.0;tags=tags-v1.0"."""
    return f"interests={interests};tags={tags}"


def current_profile_prompt_version() -> str:
    """What a RecGPT-V1 profile made by the current prompts records."""
    return profile_prompt_version(INTERESTS_V1, TAGS_V1)
