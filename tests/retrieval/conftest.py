"""Retrieval fixtures: a hand-made catalogue a test may change (the embedder and the built small index come
from tests/embedding_fixtures.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.retrieval.catalogue_folder import write_small_catalogue


@pytest.fixture
def catalogue_dir(tmp_path: Path) -> Path:
    """A fresh copy of the small catalogue that a test may change."""
    return write_small_catalogue(tmp_path / "catalogue")
