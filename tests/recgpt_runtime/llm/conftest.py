"""Fixtures of the LLM tests: fake OpenAI-compatible servers for units, the real vLLM for integration."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from tests.recgpt_runtime.llm.fake_openai import FakeOpenAI
from tests.recgpt_runtime.llm.vllm_fixtures import llm_model_folder, vllm_endpoint

__all__ = ["fake_llm", "fake_llm_2", "llm_model_folder", "vllm_endpoint"]


@asynccontextmanager
async def _serving_fake() -> AsyncIterator[FakeOpenAI]:
    server = FakeOpenAI()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
async def fake_llm() -> AsyncIterator[FakeOpenAI]:
    async with _serving_fake() as server:
        yield server


@pytest.fixture
async def fake_llm_2() -> AsyncIterator[FakeOpenAI]:
    """A second worker, for fail-over and round-robin tests."""
    async with _serving_fake() as server:
        yield server
