"""The GGUF-to-folder conversion: found without importing its package, built once, replaced atomically."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from recgpt_serving.llm.models import STAMP_FILE
from recgpt_tools import model_folder
from recgpt_tools.model_folder import build_model_folder, find_gguf


def quick_converter(calls: list[Path]) -> Callable[[Path, Path], None]:
    def convert(gguf: Path, out: Path) -> None:
        calls.append(out)
        (out / "config.json").write_text(json.dumps({"from": gguf.name}))

    return convert


def test_finds_the_bundled_gguf() -> None:
    gguf = find_gguf()
    assert gguf.suffix == ".gguf"
    assert gguf.stat().st_size > 50_000_000


def test_builds_once_and_reuses_a_current_folder(tmp_path: Path) -> None:
    calls: list[Path] = []
    out = tmp_path / "model"
    assert build_model_folder(out, converter=quick_converter(calls)) == out
    stamp = json.loads((out / STAMP_FILE).read_text())
    assert stamp == {"gguf": find_gguf().name, "size": find_gguf().stat().st_size}
    build_model_folder(out, converter=quick_converter(calls))
    assert len(calls) == 1
    # Only the folder and its lock are left beside it: no staging folder.
    assert sorted(p.name for p in tmp_path.iterdir()) == [".model.lock", "model"]


def test_rebuilds_when_forced_or_stale(tmp_path: Path) -> None:
    calls: list[Path] = []
    out = tmp_path / "model"
    build_model_folder(out, converter=quick_converter(calls))
    build_model_folder(out, force=True, converter=quick_converter(calls))
    (out / STAMP_FILE).write_text(json.dumps({"gguf": "other.gguf", "size": 1}))
    build_model_folder(out, converter=quick_converter(calls))
    assert len(calls) == 3
    assert json.loads((out / STAMP_FILE).read_text())["gguf"] == find_gguf().name


def test_failed_conversion_keeps_the_previous_folder(tmp_path: Path) -> None:
    out = tmp_path / "model"
    build_model_folder(out, converter=quick_converter([]))

    def broken(gguf: Path, folder: Path) -> None:
        (folder / "partial.bin").write_text("half")
        raise ValueError("conversion failed")

    with pytest.raises(ValueError, match="conversion failed"):
        build_model_folder(out, force=True, converter=broken)
    assert (out / "config.json").exists()
    assert not (out / "partial.bin").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == [".model.lock", "model"]


def test_cli_reports_the_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "model"
    build_model_folder(out, converter=quick_converter([]))
    assert model_folder.main(["--out", str(out)]) == 0
    assert capsys.readouterr().out.strip() == str(out)


@pytest.mark.integration
def test_real_conversion_keeps_the_chat_template(llm_model_folder: Path) -> None:
    """The cached real folder (built by the session fixture) is servable: weights, tokenizer, template."""
    names = {p.name for p in llm_model_folder.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", STAMP_FILE} <= names
    template = (llm_model_folder / "chat_template.jinja").read_text()
    assert "<|im_start|>" in template
    config = json.loads((llm_model_folder / "config.json").read_text())
    assert config["model_type"] == "llama"
    assert "quantization_config" not in config
