"""The bundled sentence-transformers model as an ONNX file, converted locally once and kept by content.

OpenVINO runs the ONNX file; nothing is downloaded. The conversion (torch, a few seconds) is the only part
that needs torch; a folder keyed by the hash of the source files is reused by every later process.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

ONNX_FILE = "model.onnx"
TOKENIZER_FILE = "tokenizer.json"
DESCRIPTION_FILE = "export.json"
# Part of the cache key: a change to how the file is produced must not reuse an older file.
RECIPE = "torch.onnx.export opset 17; inputs input_ids, attention_mask, token_type_ids; last_hidden_state"
OPSET = 17
_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
_SOURCE_FILES = (
    "model.safetensors",
    "config.json",
    TOKENIZER_FILE,
    "sentence_bert_config.json",
    "modules.json",
    "1_Pooling/config.json",
)


class ExportError(RuntimeError):
    """The model folder cannot be run by the ONNX backends; the message says why and what to use instead."""


@dataclass(frozen=True)
class ExportedModel:
    """A converted model folder: the ONNX graph, the tokenizer and what the pooling needs."""

    folder: Path
    max_seq_length: int
    dimension: int

    @property
    def onnx_file(self) -> Path:
        return self.folder / ONNX_FILE

    @property
    def tokenizer_file(self) -> Path:
        return self.folder / TOKENIZER_FILE


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise ExportError(f"cannot read {path}: {error}") from error


def check_supported(model_dir: Path) -> tuple[int, int]:
    """(max_seq_length, dimension) of a mean-pooled, normalised transformer; anything else is refused."""
    modules = [module.get("type", "") for module in _read_json(model_dir / "modules.json")]
    expected = [
        "sentence_transformers.models.Transformer",
        "sentence_transformers.models.Pooling",
        "sentence_transformers.models.Normalize",
    ]
    pooling = _read_json(model_dir / "1_Pooling" / "config.json")
    mean_only = pooling.get("pooling_mode_mean_tokens") and not any(
        value
        for key, value in pooling.items()
        if key.startswith("pooling_mode_") and key != "pooling_mode_mean_tokens"
    )
    if modules != expected or not mean_only:
        raise ExportError(
            f"{model_dir} is not a mean-pooled, normalised transformer; use RECGPT_EMBEDDING_BACKEND=torch"
        )
    config = _read_json(model_dir / "config.json")
    max_seq_length = int(_read_json(model_dir / "sentence_bert_config.json")["max_seq_length"])
    max_seq_length = min(max_seq_length, int(config.get("max_position_embeddings", max_seq_length)))
    return max_seq_length, int(pooling["word_embedding_dimension"])


def source_digest(model_dir: Path) -> str:
    """The hash of the files the conversion reads, and of the recipe."""
    digest = hashlib.sha256(RECIPE.encode())
    for name in _SOURCE_FILES:
        path = model_dir / name
        digest.update(name.encode())
        if path.is_file():
            with path.open("rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(block)
    return digest.hexdigest()


def _convert(model_dir: Path, folder: Path, max_seq_length: int, dimension: int) -> None:
    """Writes model.onnx, tokenizer.json and export.json into `folder` (which exists and is empty)."""
    import torch
    from transformers import AutoModel

    model = AutoModel.from_pretrained(str(model_dir), dtype=torch.float32, local_files_only=True).eval()

    class HiddenStates(torch.nn.Module):
        """Keyword arguments in, the last hidden state out: what the exporter and the pooling need."""

        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            return self.inner(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state

    example = torch.ones(2, 8, dtype=torch.long)
    dynamic = {name: {0: "batch", 1: "tokens"} for name in (*_INPUTS, "last_hidden_state")}
    with warnings.catch_warnings(), torch.no_grad():
        # The TorchScript exporter warns about its own deprecation and about traced branches that do not
        # depend on the input values; neither changes the graph of this model.
        warnings.simplefilter("ignore")
        torch.onnx.export(
            HiddenStates(model),
            (example, torch.ones_like(example), torch.zeros_like(example)),
            str(folder / ONNX_FILE),
            input_names=list(_INPUTS),
            output_names=["last_hidden_state"],
            dynamic_axes=dynamic,
            opset_version=OPSET,
            dynamo=False,
        )
    shutil.copyfile(model_dir / TOKENIZER_FILE, folder / TOKENIZER_FILE)
    description = {
        "source": str(model_dir),
        "recipe": RECIPE,
        "max_seq_length": max_seq_length,
        "dimension": dimension,
    }
    (folder / DESCRIPTION_FILE).write_text(json.dumps(description, indent=2))


def _complete(folder: Path) -> bool:
    return all((folder / name).is_file() for name in (ONNX_FILE, TOKENIZER_FILE, DESCRIPTION_FILE))


def export(model_dir: Path, models_dir: Path, name: str) -> ExportedModel:
    """The converted folder `<name>-onnx-<hash>` under `models_dir`, converting on first use.

    Safe when processes race: each converts into a staging folder and renames it into place whole.
    """
    max_seq_length, dimension = check_supported(model_dir)
    folder = models_dir / f"{name}-onnx-{source_digest(model_dir)[:16]}"
    if not _complete(folder):
        models_dir.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=models_dir))
        staging.chmod(0o755)  # mkdtemp makes it private; every process of the platform reads it
        try:
            log.info("converting the embedding model to ONNX", extra={"source": str(model_dir)})
            _convert(model_dir, staging, max_seq_length, dimension)
            if folder.exists() and not _complete(folder):
                shutil.rmtree(folder)  # a half-copied folder from outside; ours are renamed whole
            try:
                os.rename(staging, folder)
            except OSError:
                if not _complete(folder):
                    raise
                # Another process finished the same conversion first: its folder is as good as ours.
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return ExportedModel(folder=folder, max_seq_length=max_seq_length, dimension=dimension)


def remove(exported: ExportedModel) -> None:
    """Drops a converted folder that failed to load, so that the next call converts again."""
    shutil.rmtree(exported.folder, ignore_errors=True)
