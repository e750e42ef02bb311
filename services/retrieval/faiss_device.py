"""Where a FAISS index is searched: on a GPU when faiss has one and the settings allow, else on the CPU.

The CPU build of faiss has no GPU functions at all, so every GPU call is looked up on the module at run
time; tests stand in for them with monkeypatch.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import faiss

from retrieval.settings import FaissDevice

log = logging.getLogger(__name__)

# faiss has no GPU HNSW (its GPU graph index is another type, CAGRA).
GPU_INDEX_TYPES = frozenset({"flat", "ivf"})


class GpuUnavailableError(RuntimeError):
    """The settings ask for a GPU index that this process cannot have."""


def gpu_count() -> int:
    """GPUs faiss can use; 0 with the CPU build, which lacks `get_num_gpus`."""
    get_num_gpus = getattr(faiss, "get_num_gpus", None)
    return int(get_num_gpus()) if get_num_gpus is not None else 0


@dataclass(frozen=True)
class Placement:
    """The index to search and, on a GPU, the resources that must live as long as it does."""

    index: faiss.Index
    on_gpu: bool
    resources: Any = None


def place(index: faiss.Index, index_type: str, device: FaissDevice) -> Placement:
    """Copies the index to GPU 0 when `device` allows and one is there; `gpu` without one raises."""
    if device == "cpu":
        return Placement(index, on_gpu=False)
    gpus = gpu_count()
    if index_type not in GPU_INDEX_TYPES or gpus == 0:
        if device == "gpu":
            reason = (
                f"a {index_type} index has no GPU version (use flat or ivf)"
                if index_type not in GPU_INDEX_TYPES
                else "faiss sees no GPU (is faiss-gpu-cu12 installed and CUDA_VISIBLE_DEVICES right?)"
            )
            raise GpuUnavailableError(f"RECGPT_FAISS_DEVICE=gpu, but {reason}")
        return Placement(index, on_gpu=False)
    try:
        resources = faiss.StandardGpuResources()
        return Placement(faiss.index_cpu_to_gpu(resources, 0, index), on_gpu=True, resources=resources)
    except (RuntimeError, AttributeError) as error:
        if device == "gpu":
            raise GpuUnavailableError(f"cannot put the {index_type} index on the GPU: {error}") from error
        # auto: the CPU index still answers; the "index loaded" log line says gpu=false.
        log.warning("GPU index unavailable, searching on the CPU", extra={"error": str(error)})
        return Placement(index, on_gpu=False)
