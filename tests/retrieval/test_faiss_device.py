"""Where FAISS searches: the GPU when asked and present, a clear error when asked and absent.

faiss's CPU build has no GPU functions, so a fake GPU stands in: `get_num_gpus` says how many there are,
and `index_cpu_to_gpu` hands back a wrapper over the CPU index that records how it is searched.
"""

from __future__ import annotations

from typing import Any, cast

import faiss
import numpy as np
import numpy.typing as npt
import pytest

from retrieval.faiss_device import GpuUnavailableError, gpu_count, place
from retrieval.index_plan import make_faiss_index
from retrieval.settings import FaissDevice
from retrieval.vector_search import VectorSearcher


def unit_rows(count: int, dimension: int = 16, seed: int = 7) -> npt.NDArray[np.float32]:
    rows = np.random.default_rng(seed).normal(size=(count, dimension)).astype(np.float32)
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    return rows


def exact_top(vectors: npt.NDArray[np.float32], query: npt.NDArray[np.float32], allowed: Any) -> list[int]:
    order = np.argsort(-(vectors @ query))
    return [int(row) for row in order[allowed[order]]]


class FakeGpuIndex:
    """Answers like the CPU index it wraps; remembers each search's k and parameters."""

    def __init__(self, index: faiss.Index) -> None:
        self.cpu = index
        self.ntotal = index.ntotal
        self.calls: list[tuple[int, Any]] = []

    def search(self, queries: Any, k: int, params: Any = None) -> Any:
        self.calls.append((k, params))
        return self.cpu.search(queries, k, params=params)


class FakeGpu:
    def __init__(self, monkeypatch: pytest.MonkeyPatch, gpus: int, fails: bool = False) -> None:
        self.clones: list[tuple[Any, int]] = []
        self.gpu_indexes: list[FakeGpuIndex] = []
        self.fails = fails
        monkeypatch.setattr(faiss, "get_num_gpus", lambda: gpus, raising=False)
        monkeypatch.setattr(faiss, "StandardGpuResources", lambda: "resources", raising=False)
        monkeypatch.setattr(faiss, "index_cpu_to_gpu", self.clone, raising=False)

    def clone(self, resources: Any, device: int, index: faiss.Index) -> FakeGpuIndex:
        if self.fails:
            raise RuntimeError("out of GPU memory")
        self.clones.append((resources, device))
        self.gpu_indexes.append(FakeGpuIndex(index))
        return self.gpu_indexes[-1]


def test_the_cpu_build_has_no_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(faiss, "get_num_gpus", raising=False)
    assert gpu_count() == 0
    index = faiss.IndexFlatIP(4)
    assert place(index, "flat", "auto").on_gpu is False
    with pytest.raises(GpuUnavailableError, match="faiss sees no GPU"):
        place(index, "flat", "gpu")


@pytest.mark.parametrize("device", ["auto", "gpu"])
def test_a_gpu_present_and_allowed_gets_the_index(
    monkeypatch: pytest.MonkeyPatch, device: FaissDevice
) -> None:
    gpu = FakeGpu(monkeypatch, gpus=1)
    index = faiss.IndexFlatIP(4)
    placement = place(index, "flat", device)
    assert placement.on_gpu
    assert placement.index is cast(object, gpu.gpu_indexes[0])
    assert gpu.clones == [("resources", 0)]
    assert placement.resources == "resources"  # kept alive beside the GPU index


def test_cpu_never_touches_the_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    gpu = FakeGpu(monkeypatch, gpus=1)
    index = faiss.IndexFlatIP(4)
    assert place(index, "flat", "cpu").index is index
    assert gpu.clones == []


def test_hnsw_stays_on_the_cpu_unless_a_gpu_is_demanded(monkeypatch: pytest.MonkeyPatch) -> None:
    gpu = FakeGpu(monkeypatch, gpus=1)
    index = faiss.IndexHNSWFlat(4, 8, faiss.METRIC_INNER_PRODUCT)
    assert place(index, "hnsw", "auto").on_gpu is False
    with pytest.raises(GpuUnavailableError, match="hnsw index has no GPU version"):
        place(index, "hnsw", "gpu")
    assert gpu.clones == []


def test_a_failed_copy_falls_back_on_auto_and_fails_on_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    FakeGpu(monkeypatch, gpus=1, fails=True)
    index = faiss.IndexFlatIP(4)
    assert place(index, "flat", "auto").index is index
    with pytest.raises(GpuUnavailableError, match="out of GPU memory"):
        place(index, "flat", "gpu")


def test_the_searcher_asks_for_no_gpu_when_none_is_there(monkeypatch: pytest.MonkeyPatch) -> None:
    FakeGpu(monkeypatch, gpus=0)
    vectors = unit_rows(300)
    with pytest.raises(GpuUnavailableError):
        VectorSearcher(make_faiss_index(vectors, "flat", {}), vectors, "flat", device="gpu")
    # The yes/no spelling still means auto / cpu.
    assert not VectorSearcher(make_faiss_index(vectors, "flat", {}), vectors, "flat", use_gpu=True).on_gpu


def test_gpu_ivf_gets_nprobe_per_call_and_filters_by_over_fetching(monkeypatch: pytest.MonkeyPatch) -> None:
    gpu = FakeGpu(monkeypatch, gpus=1)
    vectors = unit_rows(3000, dimension=16, seed=11)
    index = make_faiss_index(vectors, "ivf", {"nlist": 16})
    searcher = VectorSearcher(index, vectors, "ivf", device="auto", nprobe=4)
    assert searcher.on_gpu
    assert faiss.extract_index_ivf(index).nprobe == 4  # the copy starts from the CPU index's nprobe
    allowed = np.zeros(3000, dtype=np.bool_)
    allowed[::3] = True  # 1,000 rows: more than one search scans, so the index answers
    hits = searcher.search(vectors[:1], 10, allowed)
    assert len(hits.rows) == 10
    assert allowed[hits.rows].all()
    assert len(set(hits.rows.tolist()) & set(exact_top(vectors, vectors[0], allowed)[:10])) >= 8
    calls = gpu.gpu_indexes[0].calls
    assert calls
    # A third of the rows allowed: three times the lists, and no ID selector (GPU IVF takes none), so
    # blocked rows are fetched and dropped.
    assert calls[0][1].nprobe == 12
    assert all(params.sel is None for _, params in calls)
    # Past what a GPU search can return, the CPU index answers.
    big = searcher.search(vectors[:1], 2500, None)
    assert len(big.rows) == 2500
    assert all(k <= 2048 for k, _ in calls)
