"""Every prompt version is a constant of recgpt_domain.prompt_versions, and no two prompts share one."""

from __future__ import annotations

from recgpt_domain import prompt_versions

VERSIONS = {
    name: value for name, value in vars(prompt_versions).items() if name.isupper() and isinstance(value, str)
}


def test_no_two_prompt_versions_are_alike() -> None:
    """Two prompts with one version would let a profile made by one pass for the other's."""
    assert len(VERSIONS) >= 7
    assert len(set(VERSIONS.values())) == len(VERSIONS), VERSIONS


def test_every_tag_mode_stamps_one_of_the_versions() -> None:
    assert set(prompt_versions.TAG_PROMPT_VERSIONS.values()) <= set(VERSIONS.values())
