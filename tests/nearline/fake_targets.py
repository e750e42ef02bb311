"""Pointing the near-line command at the fake services, and the prompt version they report."""

from __future__ import annotations

import pytest

from recgpt_domain.prompt_versions import profile_prompt_version
from tests.evaluation.fake_services import INTERESTS_VERSION, TAGS_VERSION

CURRENT = profile_prompt_version(INTERESTS_VERSION, TAGS_VERSION)


def point_at(target: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("RETRIEVAL", "INTENT", "TAGS", "EXPLAIN"):
        monkeypatch.setenv(f"RECGPT_{name}_TARGET", target)
