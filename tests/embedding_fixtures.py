"""The real embedding model and the small hand-made retrieval index, loaded once per session for every
package's tests (retrieval, tags, the gateway's feed); registered by tests/conftest.py."""

from __future__ import annotations

import pytest

from recgpt_domain.embedder import Embedder
from recgpt_serving.embedding.runtime import load_bundled
from retrieval.indexing import ensure_index
from retrieval.settings import IndexSettings
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
