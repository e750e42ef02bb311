"""MiniLM vectors of item texts, descriptions and tags: the towers' frozen text inputs, cached on disk.

The cache key is the texts' own sha256 with the model name, so a changed catalogue or model never reuses
stale vectors.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from recgpt_domain.embedder import Embedder, Vectors
from recgpt_serving.embedding.runtime import MODEL_NAME, EmbedderSettings, load_bundled

# all-MiniLM-L6-v2's width.
DIMENSION = 384

log = logging.getLogger(__name__)


def _key(model: str, texts: Sequence[str]) -> str:
    digest = hashlib.sha256(model.encode())
    for text in texts:
        digest.update(b"\0" + text.encode())
    return digest.hexdigest()[:32]


def embed_cached(embedder: Embedder, texts: Sequence[str], cache_dir: Path | None) -> Vectors:
    """Vectors of `texts` (empty texts get zero rows), read from `cache_dir` when computed before."""
    path = cache_dir / f"text-{_key(embedder.model_name, texts)}.npy" if cache_dir else None
    if path is not None and path.is_file():
        cached: Vectors = np.load(path).astype(np.float32, copy=False)
        return cached
    present = [index for index, text in enumerate(texts) if text]
    vectors = np.zeros((len(texts), embedder.dimension), dtype=np.float32)
    if present:
        vectors[present] = embedder.encode([texts[index] for index in present])
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        scratch = path.with_suffix(f".{os.getpid()}.tmp.npy")
        np.save(scratch, vectors)
        os.replace(scratch, path)
    return vectors


class LazyEmbedder:
    """The bundled MiniLM, loaded on the first cache miss only (a cached run never loads the model)."""

    def __init__(self, load: Callable[[], Embedder] | None = None) -> None:
        self._load = load or (lambda: load_bundled(settings=EmbedderSettings()))
        self._model: Embedder | None = None

    @property
    def model_name(self) -> str:
        return MODEL_NAME

    @property
    def dimension(self) -> int:
        return DIMENSION

    def encode(self, texts: Sequence[str]) -> Vectors:
        if self._model is None:
            self._model = self._load()
        return self._model.encode(texts)
