"""Fake OpenAI-compatible LLM workers for unit tests of every service; registered by tests/conftest.py."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from tests.recgpt_serving.llm.fake_openai import FakeOpenAI


@asynccontextmanager
async def serving_fake() -> AsyncIterator[FakeOpenAI]:
    server = FakeOpenAI()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
async def fake_llm() -> AsyncIterator[FakeOpenAI]:
    async with serving_fake() as server:
        yield server


@pytest.fixture
async def fake_llm_2() -> AsyncIterator[FakeOpenAI]:
    """A second worker, for fail-over and round-robin tests."""
    async with serving_fake() as server:
        yield server
