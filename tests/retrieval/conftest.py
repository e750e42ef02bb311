"""Retrieval fixtures: the real embedding model (loaded once), hand-made catalogues, a built index."""

from __future__ import annotations

from pathlib import Path

import pytest

from recgpt_domain.embedder import Embedder, load_bundled
from retrieval.indexing import ensure_index
from retrieval.settings import IndexSettings, RetrievalSettings
from tests.retrieval.catalogue_folder import write_small_catalogue


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    """The bundled all-MiniLM-L6-v2; loading takes seconds, so once per session."""
    return load_bundled(batch_size=64, device="cpu")


@pytest.fixture(scope="session")
def small_index(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> IndexSettings:
    """The small hand-made catalogue and its index, built once; tests must not modify them."""
    root = tmp_path_factory.mktemp("small")
    settings = IndexSettings(
        catalogue_dir=write_small_catalogue(root / "catalogue"),
        index_dir=root / "index",
        collaborative_window=2,
    )
    ensure_index(settings, lambda: embedder)
    return settings


def retrieval_settings(
    index: IndexSettings, redis_url: str, redis_prefix: str, **overrides: object
) -> RetrievalSettings:
    values: dict[str, object] = {
        "catalogue_dir": index.catalogue_dir,
        "index_dir": index.index_dir,
        "index_type": index.index_type,
        "collaborative_window": index.collaborative_window,
        "redis_url": redis_url,
        "redis_prefix": redis_prefix,
        "port": 0,
        "metrics_port": 0,
        "max_top_k": 50,
        "max_queries": 8,
        **overrides,
    }
    return RetrievalSettings(**values)  # type: ignore[arg-type]


@pytest.fixture
def catalogue_dir(tmp_path: Path) -> Path:
    """A fresh copy of the small catalogue that a test may change."""
    return write_small_catalogue(tmp_path / "catalogue")
