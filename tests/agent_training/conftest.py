"""A tiny random model with the served model's tokenizer and chat template: trains in seconds on a CPU."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.lora_fixtures import write_tiny_model


@pytest.fixture(scope="session")
def tiny_model_folder(llm_model_folder: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_model(llm_model_folder, tmp_path_factory.mktemp("tiny-model"))
