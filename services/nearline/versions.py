"""Which prompt versions a profile records, and which ones are current (the agents' PROMPT_VERSIONs)."""

from __future__ import annotations


def profile_prompt_version(interests: str, tags: str) -> str:
    """The profile's combined prompt version, e.g. "interests=interests-v1.0;tags=tags-v1.0"."""
    return f"interests={interests};tags={tags}"


def current_prompt_version() -> str:
    """From the prompt modules the services run, so that a prompt change makes every profile stale."""
    from intent.prompts import PROMPT_VERSION as INTERESTS_VERSION
    from tags.prompts import PROMPT_VERSION as TAGS_VERSION

    return profile_prompt_version(INTERESTS_VERSION, TAGS_VERSION)
