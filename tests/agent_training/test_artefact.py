from pathlib import Path

import pytest

from agent_training import artefact
from agent_training.artefact import AdapterMismatch
from tests.agent_training.adapters import manifest, save_peft


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
