"""Choosing the index: its type by catalogue size or setting, its IVF lists, nprobe calibrated to recall."""

from __future__ import annotations

from pathlib import Path

import pytest

from retrieval.bench_index import clustered_vectors
from retrieval.index_plan import (
    DEFAULT_EF_SEARCH,
    DEFAULT_NPROBE,
    RECALL_K,
    calibrate,
    default_nlist,
    make_faiss_index,
    resolve_type,
    search_knobs,
    structure_params,
)
from retrieval.index_store import SearchTuning
from retrieval.settings import IndexSettings, IndexType


def settings(**values: object) -> IndexSettings:
    return IndexSettings(catalogue_dir=Path("catalogue"), index_dir=Path("index"), **values)  # type: ignore[arg-type]


def test_auto_is_exact_flat_up_to_the_threshold_and_ivf_past_it() -> None:
    assert settings().index_type == "auto"
    threshold = settings().flat_max_items
    assert resolve_type("auto", threshold, threshold) == "flat"
    assert resolve_type("auto", threshold + 1, threshold) == "ivf"
    assert resolve_type("auto", 4_385, threshold) == "flat"  # the demo catalogues stay exact


@pytest.mark.parametrize("forced", ["flat", "ivf", "hnsw"])
def test_a_set_type_wins_whatever_the_size(forced: IndexType) -> None:
    assert resolve_type(forced, 10, 100_000) == forced
    assert resolve_type(forced, 5_000_000, 100_000) == forced


def test_the_type_and_threshold_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECGPT_INDEX_TYPE", "hnsw")
    monkeypatch.setenv("RECGPT_FLAT_MAX_ITEMS", "500")
    monkeypatch.setenv("RECGPT_FAISS_DEVICE", "cpu")
    chosen = settings()
    assert (chosen.index_type, chosen.flat_max_items, chosen.faiss_device) == ("hnsw", 500, "cpu")
    monkeypatch.setenv("RECGPT_INDEX_TYPE", "annoy")
    with pytest.raises(ValueError, match="index_type"):
        settings()


def test_ivf_gets_about_four_root_n_lists_unless_set() -> None:
    assert default_nlist(1_000_000) == 4_000
    assert default_nlist(10) == 10  # never more lists than items
    assert structure_params(settings(), "ivf", 1_000_000) == {"nlist": 4_000}
    assert structure_params(settings(ivf_nlist=256), "ivf", 1_000_000) == {"nlist": 256}
    assert structure_params(settings(hnsw_m=12), "hnsw", 1_000_000) == {"m": 12}
    assert structure_params(settings(), "flat", 1_000_000) == {}


def test_calibration_picks_the_smallest_nprobe_that_reaches_the_target() -> None:
    vectors = clustered_vectors(6_000, dimension=32, seed=3)
    params = {"nlist": 64}
    index = make_faiss_index(vectors, "ivf", params)
    tuning = calibrate(index, "ivf", params, vectors, target=0.9)
    assert 1 < tuning.nprobe < 64
    assert tuning.recall >= 0.9
    assert tuning.recall_k == RECALL_K
    # One step down the ladder (1, 2, 3, 4, 6, 8, 12, ...) misses the target; a target it reaches
    # comfortably is met there or lower.
    ladder = [1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64]
    below = ladder[ladder.index(tuning.nprobe) - 1]
    lower = calibrate(index, "ivf", params, vectors, target=0.9, fixed=below)
    assert lower.recall < tuning.recall
    assert calibrate(index, "ivf", params, vectors, target=lower.recall - 0.05).nprobe <= below
    # A stricter target needs more lists.
    assert calibrate(index, "ivf", params, vectors, target=0.99).nprobe > tuning.nprobe


def test_a_fixed_knob_is_kept_and_its_recall_measured() -> None:
    vectors = clustered_vectors(3_000, dimension=32, seed=4)
    params = {"nlist": 32}
    index = make_faiss_index(vectors, "ivf", params)
    tuning = calibrate(index, "ivf", params, vectors, target=0.95, fixed=32)
    assert tuning.nprobe == 32
    assert tuning.recall == pytest.approx(1.0)
    hnsw = make_faiss_index(vectors, "hnsw", {"m": 8})
    assert calibrate(hnsw, "hnsw", {"m": 8}, vectors, target=0.95, fixed=40).ef_search == 40
    assert calibrate(make_faiss_index(vectors, "flat", {}), "flat", {}, vectors, 0.95) == SearchTuning(
        recall=1.0, recall_k=RECALL_K
    )


def test_search_knobs_prefer_the_setting_then_the_manifest() -> None:
    built = SearchTuning(nprobe=24, ef_search=96, recall=0.96, recall_k=RECALL_K)
    assert search_knobs(built, 0, 0) == (24, 96)
    assert search_knobs(built, 7, 300) == (7, 300)
    assert search_knobs(SearchTuning(), 0, 0) == (DEFAULT_NPROBE, DEFAULT_EF_SEARCH)


def test_ivf_is_trained_on_a_sample_yet_holds_every_item() -> None:
    vectors = clustered_vectors(2_500, dimension=16, seed=5)
    index = make_faiss_index(vectors, "ivf", {"nlist": 20})  # 40 points per list: 800 of 2,500
    assert (index.ntotal, index.is_trained) == (2_500, True)
