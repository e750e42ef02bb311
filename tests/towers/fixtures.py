"""Small real datasets (cut from the shipped Amazon one) and a deterministic stand-in for MiniLM."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from recgpt_domain.embedder import Vectors
from recgpt_serving.embedding.runtime import MODEL_NAME
from tests.recgpt_domain.datasets.dataset_subsets import unisrec_subset
from towers.text import DIMENSION

REAL_AMAZON = Path(__file__).resolve().parents[2] / "data" / "amazon-scientific"


class HashEmbedder:
    """Unit vectors from each text's sha256: same text, same vector; no model to load."""

    model_name = MODEL_NAME
    dimension = DIMENSION

    def __init__(self) -> None:
        self.calls = 0

    def encode(self, texts: Sequence[str]) -> Vectors:
        self.calls += 1
        rows = []
        for text in texts:
            seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")
            row = np.random.default_rng(seed).standard_normal(DIMENSION).astype(np.float32)
            rows.append(row / np.linalg.norm(row))
        return np.stack(rows) if rows else np.zeros((0, DIMENSION), dtype=np.float32)


def small_amazon(out: Path, users: range = range(1, 121)) -> Path:
    """About a hundred real Amazon users with their items, in the published format."""
    return unisrec_subset(REAL_AMAZON, out, "Scientific", users)
