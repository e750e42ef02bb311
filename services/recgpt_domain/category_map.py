"""Maps free tags to the catalogue's leaf categories by embedding similarity; no LLM involved."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from recgpt_domain.catalogue import Item
from recgpt_domain.embedder import Embedder, QueryCache, Vectors

# "leaf": a category is embedded from its own name; "leaf_parent": as "leaf (parent)", which tells apart
# ambiguous leaves such as "Accessories" and gives short names some context.
CategoryText = Literal["leaf", "leaf_parent"]
# Texts whose similarities to every category are held at once by `CategoryMapper.nearest`.
_NEAREST_ROWS = 1024


@dataclass(frozen=True)
class CategoryMatch:
    category: str
    score: float


class CachedEncoder:
    """Encodes texts through an LRU cache, one batch at a time so that requests don't fight for cores."""

    def __init__(self, embedder: Embedder, capacity: int) -> None:
        self.embedder = embedder
        self.cache = QueryCache(capacity)
        self._lock = threading.Lock()

    def encode(self, texts: Sequence[str]) -> Vectors:
        rows: list[Vectors | None] = [self.cache.get(text) for text in texts]
        missing = sorted({text for text, row in zip(texts, rows, strict=True) if row is None})
        if missing:
            with self._lock:
                fresh = self.embedder.encode(missing)
            by_text = dict(zip(missing, fresh, strict=True))
            for text, vector in by_text.items():
                self.cache.put(text, vector)
            rows = [by_text[text] if row is None else row for text, row in zip(texts, rows, strict=True)]
        if not texts:
            return np.zeros((0, self.embedder.dimension), dtype=np.float32)
        return np.stack([row for row in rows if row is not None]).astype(np.float32, copy=False)


def category_texts(items: Iterable[Item], mode: CategoryText) -> dict[str, str]:
    """Each distinct leaf category and the text it is embedded from (with its most frequent parent)."""
    parents: dict[str, dict[str, int]] = {}
    for item in items:
        leaf = item.category.strip()
        if not leaf:
            continue
        parent = item.category_path[-2].strip() if len(item.category_path) >= 2 else ""
        counts = parents.setdefault(leaf, {})
        counts[parent] = counts.get(parent, 0) + 1
    texts = {}
    for leaf, counts in sorted(parents.items()):
        parent = max(counts, key=lambda name: (counts[name], name))
        texts[leaf] = f"{leaf} ({parent})" if mode == "leaf_parent" and parent else leaf
    return texts


class CategoryMapper:
    """Holds the category vectors (built once at start) and maps tag vectors onto them."""

    def __init__(self, encoder: CachedEncoder, items: Iterable[Item], mode: CategoryText = "leaf") -> None:
        texts = category_texts(items, mode)
        self.categories = list(texts)
        self.vectors = encoder.embedder.encode(list(texts.values()))
        self.encoder = encoder

    def __len__(self) -> int:
        return len(self.categories)

    def match_vectors(self, vectors: Vectors) -> list[CategoryMatch]:
        """The best category of each row of `vectors` (L2-normalised), with its cosine."""
        if not self.categories:
            return [CategoryMatch("", 0.0) for _ in range(len(vectors))]
        similarities = vectors @ self.vectors.T
        best = similarities.argmax(axis=1)
        return [
            CategoryMatch(self.categories[column], float(similarities[row, column]))
            for row, column in enumerate(best.tolist())
        ]

    def map(self, tags: Sequence[str]) -> list[CategoryMatch]:
        return self.match_vectors(self.encoder.encode(list(tags)))

    def nearest(self, texts: Sequence[str], count: int) -> list[list[str]]:
        """The `count` categories nearest each of `texts` by cosine, nearest first (one text or a batch: the
        embedder pads a batch under its attention mask, so each text's categories are the same)."""
        if count <= 0 or not self.categories:
            return [[] for _ in texts]
        nearest: list[list[str]] = []
        for start in range(0, len(texts), _NEAREST_ROWS):
            similarities = self.encoder.encode(list(texts[start : start + _NEAREST_ROWS])) @ self.vectors.T
            for row in np.argsort(-similarities, axis=1)[:, :count].tolist():
                nearest.append([self.categories[i] for i in row])
        return nearest


class TagMappingSettings(BaseSettings):
    """How tags map to categories, from `RECGPT_*`: what training and evaluation share with the service,
    readable without a service's ports, Redis and catalogue."""

    model_config = SettingsConfigDict(env_prefix="RECGPT_", extra="ignore", frozen=True)

    # Below this cosine to its best category a tag is off-topic. Measured with all-MiniLM-L6-v2 on the
    # Amazon Scientific categories ("leaf (parent)" texts): real product tags 0.37-0.83, junk such as
    # "the the" or "hello world" 0.12-0.24; on MovieLens genres real 0.69-0.91, junk 0.16-0.38.
    tag_min_category_score: float = Field(default=0.33, ge=-1, le=1)
    category_text: CategoryText = "leaf_parent"
    embedding_batch_size: int = Field(default=32, ge=1)
    embedding_device: str = ""
    # Embeddings of tags, interests and seen titles kept in memory (384 floats each, ~1.5 KB).
    embedding_cache_size: int = Field(default=20_000, ge=0)
