"""Fixtures of the LLM tests: the real vLLM (the fake workers are in tests/fake_llm_fixtures.py)."""

from __future__ import annotations

from tests.recgpt_runtime.llm.vllm_fixtures import llm_model_folder, vllm_endpoint

__all__ = ["llm_model_folder", "vllm_endpoint"]
