"""Building the index folder: manifest, skipping when fresh, partial and full rebuilds, loud load errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from recgpt_domain.catalogue import BEHAVIOUR_FILE, ITEMS_FILE, Item, fingerprint
from recgpt_domain.embedder import Embedder
from recgpt_serving.embedding.runtime import MODEL_NAME
from retrieval import index_store
from retrieval.index_plan import default_nlist
from retrieval.index_store import IndexLoadError, SearchTuning
from retrieval.indexing import ensure_index
from retrieval.server import prepare_retriever
from retrieval.settings import IndexSettings
from tests.retrieval.catalogue_folder import ITEMS, SEQUENCES, histories, write_catalogue
from tests.retrieval.running import retrieval_settings


class CountingSource:
    """Hands out the session embedder and counts how often a build needed the model."""

    def __init__(self, embedder: Embedder) -> None:
        self.embedder = embedder
        self.calls = 0

    def __call__(self) -> Embedder:
        self.calls += 1
        return self.embedder


@pytest.fixture
def settings(catalogue_dir: Path, tmp_path: Path) -> IndexSettings:
    return IndexSettings(catalogue_dir=catalogue_dir, index_dir=tmp_path / "index")


def test_manifest_describes_the_index(settings: IndexSettings, embedder: Embedder) -> None:
    report = ensure_index(settings, lambda: embedder)
    assert report.action == "built"
    on_disk = json.loads((settings.index_dir / index_store.MANIFEST_FILE).read_text())
    assert on_disk["model"] == MODEL_NAME
    assert on_disk["dimension"] == 384
    assert on_disk["item_count"] == len(ITEMS)
    assert on_disk["index_type"] == "flat"
    assert on_disk["built_at_unix"] > 0
    assert on_disk["catalogue_fingerprint"] == fingerprint(settings.catalogue_dir / ITEMS_FILE)
    assert on_disk["cooccurrence"]["users"] == len(SEQUENCES)
    assert set(on_disk["files"]) == set(index_store.DATA_FILES)
    assert not [p for p in settings.index_dir.parent.iterdir() if p.name.startswith(".index")]


def test_rebuild_is_skipped_when_fresh_and_redone_when_items_change(
    settings: IndexSettings, embedder: Embedder
) -> None:
    source = CountingSource(embedder)
    first = ensure_index(settings, source)
    again = ensure_index(settings, source)
    assert (again.action, source.calls) == ("skipped", 1)
    assert again.manifest == first.manifest

    extra = Item(item_id="x1", title="Lab centrifuge", category_path=["Centrifuges"])
    write_catalogue(settings.catalogue_dir, [*ITEMS, extra], histories(SEQUENCES))
    rebuilt = ensure_index(settings, source)
    assert (rebuilt.action, source.calls) == ("built", 2)
    assert "items changed" in rebuilt.reasons.embeddings
    assert rebuilt.manifest.item_count == len(ITEMS) + 1

    forced = ensure_index(settings, source, force=True)
    assert (forced.action, source.calls) == ("built", 3)


def test_a_new_behaviour_log_rebuilds_only_the_cooccurrence(
    settings: IndexSettings, embedder: Embedder
) -> None:
    source = CountingSource(embedder)
    first = ensure_index(settings, source)
    write_catalogue(settings.catalogue_dir, ITEMS, histories({**SEQUENCES, "u9": ["t1", "t2"]}))
    report = ensure_index(settings, source)
    assert report.action == "cooccurrence-only"
    assert source.calls == 1
    assert report.manifest.built_at_unix == first.manifest.built_at_unix
    assert report.manifest.cooccurrence.users == len(SEQUENCES) + 1
    assert report.manifest.cooccurrence.behaviour_fingerprint == fingerprint(
        settings.catalogue_dir / BEHAVIOUR_FILE
    )
    assert (
        index_store.load(settings.index_dir).cooccurrence.popularity.sum()
        == report.manifest.cooccurrence.interactions
    )


def test_changed_cooccurrence_exponents_rebuild_only_the_cooccurrence(
    settings: IndexSettings, embedder: Embedder
) -> None:
    source = CountingSource(embedder)
    first = ensure_index(settings, source)
    assert (first.manifest.cooccurrence.seed_exponent, first.manifest.cooccurrence.neighbour_exponent) == (
        settings.collaborative_seed_exponent,
        settings.collaborative_neighbour_exponent,
    )
    cosine = settings.model_copy(
        update={"collaborative_seed_exponent": 0.5, "collaborative_neighbour_exponent": 0.5}
    )
    report = ensure_index(cosine, source)
    assert report.action == "cooccurrence-only" and source.calls == 1
    assert "co-occurrence parameters changed" in report.reasons.cooccurrence
    assert report.manifest.cooccurrence.neighbour_exponent == 0.5
    assert ensure_index(cosine, source).action == "skipped"


def test_a_manifest_from_before_the_exponents_reads_as_cosine_and_is_rebuilt(
    settings: IndexSettings, embedder: Embedder
) -> None:
    ensure_index(settings, lambda: embedder)
    path = settings.index_dir / index_store.MANIFEST_FILE
    manifest = json.loads(path.read_text())
    for name in ("seed_exponent", "neighbour_exponent"):
        del manifest["cooccurrence"][name]
    path.write_text(json.dumps(manifest))
    report = ensure_index(settings, lambda: embedder)
    assert report.action == "cooccurrence-only"
    assert "co-occurrence parameters changed" in report.reasons.cooccurrence


def test_a_corrupted_index_file_fails_loudly_at_load(settings: IndexSettings, embedder: Embedder) -> None:
    ensure_index(settings, lambda: embedder)
    path = settings.index_dir / index_store.INDEX_FILE
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(IndexLoadError, match="checksum"):
        index_store.load(settings.index_dir)


def test_a_truncated_index_with_a_matching_checksum_still_fails(
    settings: IndexSettings, embedder: Embedder
) -> None:
    ensure_index(settings, lambda: embedder)
    path = settings.index_dir / index_store.INDEX_FILE
    path.write_bytes(path.read_bytes()[:100])
    manifest_path = settings.index_dir / index_store.MANIFEST_FILE
    manifest = json.loads(manifest_path.read_text())
    manifest["files"][index_store.INDEX_FILE] = fingerprint(path)
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(IndexLoadError, match="cannot read index"):
        index_store.load(settings.index_dir)


def test_missing_or_unreadable_manifest_fails_loudly(tmp_path: Path) -> None:
    with pytest.raises(IndexLoadError, match="recgpt-build-index"):
        index_store.load(tmp_path / "nowhere")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / index_store.MANIFEST_FILE).write_text("{not json")
    with pytest.raises(IndexLoadError, match="unreadable"):
        index_store.load(tmp_path / "bad")


def test_the_service_refuses_a_stale_index_unless_allowed_to_build(
    settings: IndexSettings, embedder: Embedder, redis_url: str
) -> None:
    ensure_index(settings, lambda: embedder)
    extra = Item(item_id="x1", title="Lab centrifuge")
    write_catalogue(settings.catalogue_dir, [*ITEMS, extra], histories(SEQUENCES))
    service = retrieval_settings(settings, redis_url, "unused")
    with pytest.raises(IndexLoadError, match="stale"):
        prepare_retriever(service, embedder)
    building = retrieval_settings(settings, redis_url, "unused", build_on_start=True)
    retriever = prepare_retriever(building, embedder)
    assert "x1" in retriever.table.row_of


def test_the_service_refuses_a_missing_index(
    settings: IndexSettings, embedder: Embedder, redis_url: str
) -> None:
    with pytest.raises(IndexLoadError, match="no index"):
        prepare_retriever(retrieval_settings(settings, redis_url, "unused"), embedder)


def test_an_empty_catalogue_is_refused(tmp_path: Path, embedder: Embedder) -> None:
    folder = write_catalogue(tmp_path / "empty", [], [])
    settings = IndexSettings(catalogue_dir=folder, index_dir=tmp_path / "index")
    with pytest.raises(ValueError, match="no items"):
        ensure_index(settings, lambda: embedder)
    assert not settings.index_dir.exists()


def test_the_index_type_is_a_setting_and_changing_it_rebuilds(
    settings: IndexSettings, embedder: Embedder, redis_url: str
) -> None:
    ensure_index(settings, lambda: embedder)
    hnsw = settings.model_copy(update={"index_type": "hnsw", "hnsw_m": 8})
    report = ensure_index(hnsw, lambda: embedder)
    assert report.action == "built"
    assert any("index type changed" in reason for reason in report.reasons.embeddings)
    assert (report.manifest.index_type, report.manifest.index_params) == ("hnsw", {"m": 8})
    retriever = prepare_retriever(retrieval_settings(hnsw, redis_url, "unused"), embedder)
    hits = retriever.search(embedder.encode(["glue"]), 2, None)
    assert {retriever.table.ids[row] for row in hits.rows} == {"g1", "g2"}


def test_an_ivf_index_records_its_knobs_and_the_service_searches_with_them(
    settings: IndexSettings, embedder: Embedder, redis_url: str
) -> None:
    # Past a threshold of 4 items, auto builds IVF (the demo catalogue is far below the real one).
    ivf = settings.model_copy(update={"flat_max_items": 4})
    manifest = ensure_index(ivf, lambda: embedder).manifest
    assert (manifest.index_type, manifest.index_params) == ("ivf", {"nlist": default_nlist(len(ITEMS))})
    assert manifest.search.nprobe >= 1
    assert manifest.search.recall >= ivf.index_target_recall
    assert manifest.search.recall_k == len(ITEMS) - 1  # recall@50, capped by the catalogue
    on_disk = json.loads((ivf.index_dir / index_store.MANIFEST_FILE).read_text())
    assert on_disk["search"]["nprobe"] == manifest.search.nprobe
    assert index_store.load(ivf.index_dir).manifest == manifest

    served = prepare_retriever(retrieval_settings(ivf, redis_url, "unused"), embedder)
    assert (served.searcher.index_type, served.searcher.nprobe) == ("ivf", manifest.search.nprobe)
    hits = served.search(embedder.encode(["glue"]), 2, None)
    assert {served.table.ids[row] for row in hits.rows} == {"g1", "g2"}
    forced = prepare_retriever(retrieval_settings(ivf, redis_url, "unused", ivf_nprobe=3), embedder)
    assert forced.searcher.nprobe == 3

    # A threshold that puts the catalogue back under flat rebuilds it flat.
    report = ensure_index(settings, lambda: embedder)
    assert "index type changed (ivf -> flat)" in report.reasons.embeddings
    assert (report.manifest.index_type, report.manifest.search.recall) == ("flat", 1.0)


def test_a_manifest_written_before_calibration_loads_with_default_knobs(
    settings: IndexSettings, embedder: Embedder
) -> None:
    ensure_index(settings, lambda: embedder)
    path = settings.index_dir / index_store.MANIFEST_FILE
    older = json.loads(path.read_text())
    del older["search"]
    path.write_text(json.dumps(older))
    assert index_store.load(settings.index_dir).manifest.search == SearchTuning()
