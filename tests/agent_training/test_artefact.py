from pathlib import Path

import pytest

from agent_training import artefact
from agent_training.artefact import AdapterManifest, AdapterMismatch
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


def test_versions_are_written_whole_and_latest_points_at_the_newest(tmp_path: Path) -> None:
    first = artefact.write_adapter(tmp_path, manifest("20260101T000000Z-sft-abababab"), save_peft)
    second = artefact.write_adapter(tmp_path, manifest("20260102T000000Z-sft-abababab"), save_peft)
    assert artefact.newest_adapter(tmp_path, "tag_predictor") == second
    assert artefact.load_manifest(first).version.startswith("20260101")
    assert not [p for p in (tmp_path / "tag_predictor").iterdir() if p.name.startswith(".staging")]
    (tmp_path / "tag_predictor" / "latest").unlink()
    assert artefact.newest_adapter(tmp_path, "tag_predictor") == second
    assert artefact.newest_adapter(tmp_path, "explainer") is None


def test_a_failed_save_leaves_no_version(tmp_path: Path) -> None:
    def broken(folder: Path) -> None:
        (folder / "half").write_text("x")

    with pytest.raises(artefact.AdapterError, match=r"adapter_config\.json"):
        artefact.write_adapter(tmp_path, manifest("20260101T000000Z-sft-abababab"), broken)
    assert artefact.newest_adapter(tmp_path, "tag_predictor") is None
    assert list((tmp_path / "tag_predictor").iterdir()) == []


def test_an_adapter_of_another_base_model_is_refused() -> None:
    with pytest.raises(AdapterMismatch, match="trained on 'llama-7b'"):
        artefact.check_base(manifest("v", base="llama-7b"), "smollm2-135m-instruct", None)
    with pytest.raises(AdapterMismatch, match="model folder comes from"):
        artefact.check_base(manifest("v"), "smollm2-135m-instruct", {"gguf": "other.gguf", "size": 2})
    artefact.check_base(manifest("v"), "smollm2-135m-instruct", {"gguf": "m.gguf", "size": 1})
