"""Rebuilds re-embed only new or changed item texts; a broken or foreign cache is never trusted."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from recgpt_domain.catalogue import Item
from recgpt_domain.embedder import Embedder, Vectors
from retrieval import embedding_cache, index_store
from retrieval.indexing import ensure_index
from retrieval.settings import IndexSettings
from tests.retrieval.catalogue_folder import ITEMS, SEQUENCES, histories, write_catalogue


class RecordingEmbedder:
    """The real embedder, remembering every text it was asked to encode."""

    def __init__(self, inner: Embedder, model_name: str | None = None) -> None:
        self.inner = inner
        self.encoded: list[str] = []
        self._model_name = model_name or inner.model_name

    @property
    def model_name(self) -> str:
        return self._model_name

    @property
    def dimension(self) -> int:
        return self.inner.dimension

    def encode(self, texts: Sequence[str]) -> Vectors:
        self.encoded.extend(texts)
        return self.inner.encode(texts)


@pytest.fixture
def settings(catalogue_dir: Path, tmp_path: Path) -> IndexSettings:
    return IndexSettings(catalogue_dir=catalogue_dir, index_dir=tmp_path / "index")


def test_a_changed_catalogue_embeds_only_new_and_changed_items(
    settings: IndexSettings, embedder: Embedder
) -> None:
    recording = RecordingEmbedder(embedder)
    ensure_index(settings, lambda: recording)
    assert len(recording.encoded) == len(ITEMS)
    before = index_store.load(settings.index_dir)

    renamed = ITEMS[0].model_copy(update={"title": ITEMS[0].title + " (2024 model)"})
    added = Item(item_id="x1", title="Lab centrifuge", category_path=["Centrifuges"])
    write_catalogue(settings.catalogue_dir, [renamed, *ITEMS[1:], added], histories(SEQUENCES))
    recording.encoded.clear()
    report = ensure_index(settings, lambda: recording)

    assert report.action == "built"
    assert sorted(recording.encoded) == sorted([renamed.embedding_text(), added.embedding_text()])
    after = index_store.load(settings.index_dir)
    assert np.array_equal(after.vectors[1 : len(ITEMS)], before.vectors[1:])
    assert np.allclose(after.vectors[0], embedder.encode([renamed.embedding_text()])[0], atol=1e-5)


def test_a_forced_build_embeds_everything_again(settings: IndexSettings, embedder: Embedder) -> None:
    recording = RecordingEmbedder(embedder)
    ensure_index(settings, lambda: recording)
    recording.encoded.clear()
    ensure_index(settings, lambda: recording, force=True)
    assert len(recording.encoded) == len(ITEMS)


@pytest.mark.parametrize("damage", [b"", b"not a zip file", b"PK\x03\x04 truncated"])
def test_a_broken_cache_is_ignored(settings: IndexSettings, embedder: Embedder, damage: bytes) -> None:
    recording = RecordingEmbedder(embedder)
    path = embedding_cache.cache_path(settings.index_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(damage)
    vectors, embedded = embedding_cache.encode_with_cache(recording, ["a", "b", "a"], path)
    assert embedded == 2
    assert vectors.shape == (3, embedder.dimension)
    assert np.array_equal(vectors[0], vectors[2])


def test_a_cache_of_another_model_is_ignored(settings: IndexSettings, embedder: Embedder) -> None:
    path = embedding_cache.cache_path(settings.index_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    embedding_cache.encode_with_cache(RecordingEmbedder(embedder, "another/model"), ["a", "b"], path)
    recording = RecordingEmbedder(embedder)
    _, embedded = embedding_cache.encode_with_cache(recording, ["a", "b"], path)
    assert (embedded, recording.encoded) == (2, ["a", "b"])
    _, embedded_again = embedding_cache.encode_with_cache(recording, ["b", "c"], path)
    assert embedded_again == 1
