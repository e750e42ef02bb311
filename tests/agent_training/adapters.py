"""A made-up adapter manifest and a stand-in for PEFT's save, for the tests of the adapter artefact."""

from __future__ import annotations

from pathlib import Path

from agent_training.artefact import AdapterManifest
from recgpt_domain.prompt_versions import TAGS_V1


def manifest(
    version: str, base: str = "smollm2-135m-instruct", prompt_version: str = TAGS_V1
) -> AdapterManifest:
    return AdapterManifest(
        agent="tag_predictor",
        version=version,
        method="sft",
        base_model=base,
        base_model_source={"gguf": "m.gguf", "size": 1},
        prompt_version=prompt_version,
        data_fingerprint="ab" * 32,
        lora_rank=8,
        created_at="2026-01-01T00:00:00Z",
    )


def save_peft(folder: Path) -> None:
    (folder / "adapter_config.json").write_text("{}")
    (folder / "adapter_model.safetensors").write_bytes(b"0")
