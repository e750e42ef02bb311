"""The environment a near-line command reads: Redis, this test's key prefix, the fake model's name."""

from __future__ import annotations

import pytest

from tests.evaluation.fake_services import MODEL


@pytest.fixture
def environment(redis_url: str, redis_prefix: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("RECGPT_REDIS_PREFIX", redis_prefix)
    monkeypatch.setenv("RECGPT_LLM_MODEL", MODEL)
    monkeypatch.setenv("RECGPT_LOG_LEVEL", "ERROR")
