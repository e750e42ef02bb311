"""Merging an agent's adapter into the base weights: the merged model answers as base + adapter did, and
what cannot be merged is refused in one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from peft import PeftModel
from transformers import AutoModelForCausalLM, AutoTokenizer

from recgpt_domain.artefact_store import sha256_of
from recgpt_serving.llm.models import STAMP_FILE
from recgpt_tools.merge_adapter import main
from recgpt_tools.merged_models import MANIFEST, MergeError, read_merged
from tests.lora_fixtures import ADAPTER_MANIFEST, write_lora_adapter, write_tiny_model

BASE = "smollm2-135m-instruct"


@pytest.fixture(scope="module")
def tiny_base(llm_model_folder: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_model(llm_model_folder, tmp_path_factory.mktemp("base") / BASE)


def merge(tmp_path: Path, base: Path, *options: str) -> list[str]:
    return [
        "--adapters-dir", str(tmp_path / "adapters"),
        "--model-dir", str(base),
        "--out-dir", str(tmp_path / "merged"),
        *options,
    ]  # fmt: skip


def refusal(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    """The one line a refused merge says (what the test printed before it set aside)."""
    capsys.readouterr()
    assert main(argv) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("merge-adapter: "), captured.err
    return lines[0]


def logits(model: torch.nn.Module, ids: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        output = model(input_ids=ids)
    return output.logits  # type: ignore[no-any-return]


def test_the_merged_model_answers_as_base_and_adapter(
    tmp_path: Path, tiny_base: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    adapter = write_lora_adapter(
        tiny_base, tmp_path / "adapters", agent="tag_expert", version="v1", base_model=BASE, rank=4
    )
    assert main(merge(tmp_path, tiny_base, "--agent", "experts")) == 0
    folder = tmp_path / "merged" / "tag_expert-v1"
    assert capsys.readouterr().out.strip() == str(folder)

    manifest = read_merged(folder)
    assert (manifest.agent, manifest.adapter_version) == ("tag_expert", "v1")
    assert manifest.served_name == folder.name
    assert manifest.base_model == BASE and manifest.dtype == "float32"
    assert manifest.base_model_source == json.loads((tiny_base / STAMP_FILE).read_text())
    assert manifest.adapter_sha256 == {
        name: sha256_of(adapter / name) for name in ("adapter_config.json", "adapter_model.safetensors")
    }
    assert [p.name for p in (tmp_path / "merged").iterdir()] == [folder.name], "no staging left behind"
    # What vLLM needs to serve it without LoRA: the weights and the tokenizer with its chat template.
    assert not (folder / "adapter_config.json").exists()
    assert AutoTokenizer.from_pretrained(str(folder)).chat_template

    ids = torch.tensor([[1, 17, 42, 256, 1000, 7]])
    base = AutoModelForCausalLM.from_pretrained(str(tiny_base), dtype=torch.float32)
    # from_pretrained leaves each in eval mode: no dropout.
    with_adapter = logits(PeftModel.from_pretrained(base, str(adapter)), ids)
    merged = logits(AutoModelForCausalLM.from_pretrained(str(folder), dtype=torch.float32), ids)
    plain = logits(AutoModelForCausalLM.from_pretrained(str(tiny_base), dtype=torch.float32), ids)
    assert not torch.allclose(with_adapter, plain, atol=1e-4), "the random adapter changes the answer"
    torch.testing.assert_close(merged, with_adapter, atol=1e-5, rtol=1e-5)

    # A merged version is never rewritten.
    line = refusal(capsys, merge(tmp_path, tiny_base, "--agent", "tag_expert", "--version", "v1"))
    assert "tag_expert-v1 exists already" in line


def test_a_missing_adapter_is_refused(
    tmp_path: Path, tiny_base: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    line = refusal(capsys, merge(tmp_path, tiny_base, "--agent", "tag_expert"))
    assert "tag_expert has no adapter in" in line
    write_lora_adapter(tiny_base, tmp_path / "adapters", agent="tag_expert", version="v1", base_model=BASE)
    line = refusal(capsys, merge(tmp_path, tiny_base, "--agent", "tag_expert", "--version", "v9"))
    assert "no adapter version 'v9'" in line
    assert "unknown agent 'poet'" in refusal(capsys, merge(tmp_path, tiny_base, "--agent", "poet"))
    assert not (tmp_path / "merged").exists()


def test_an_adapter_of_another_base_model_is_refused(
    tmp_path: Path, tiny_base: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    adapters = tmp_path / "adapters"
    qwen = "Qwen/Qwen2.5-0.5B"
    write_lora_adapter(tiny_base, adapters, agent="tag_expert", version="qwen", base_model=qwen)
    line = refusal(capsys, merge(tmp_path, tiny_base, "--agent", "tag_expert", "--version", "qwen"))
    assert "trained on 'Qwen/Qwen2.5-0.5B'" in line

    # The same name, but a base folder converted from another source.
    other = write_lora_adapter(tiny_base, adapters, agent="tag_expert", version="other", base_model=BASE)
    manifest = json.loads((other / ADAPTER_MANIFEST).read_text())
    manifest["base_model_source"] = {"gguf": "SmolLM2-360M.gguf", "size": 1}
    (other / ADAPTER_MANIFEST).write_text(json.dumps(manifest))
    line = refusal(capsys, merge(tmp_path, tiny_base, "--agent", "tag_expert", "--version", "other"))
    assert "SmolLM2-360M.gguf" in line

    # The same name and source, but weights of another shape.
    shallow = write_tiny_model(tiny_base, tmp_path / "shallow-base", seed=1)
    config = json.loads((shallow / "config.json").read_text())
    config["num_hidden_layers"] = 1
    (shallow / "config.json").write_text(json.dumps(config))
    write_lora_adapter(tiny_base, adapters, agent="tag_expert", version="v1", base_model=BASE)
    line = refusal(capsys, merge(tmp_path, shallow, "--agent", "tag_expert", "--version", "v1"))
    assert "beyond the base model's 1 layers" in line
    assert not (tmp_path / "merged").exists()


def test_a_folder_without_the_manifest_is_no_merged_model(tmp_path: Path) -> None:
    """The manifest is written last: a half-written folder is never served."""
    with pytest.raises(MergeError, match=f"holds no merged model \\({MANIFEST}\\)"):
        read_merged(tmp_path)
