"""The index folder on disk: FAISS index, item vectors, item ids, co-occurrence table and a manifest.

A folder is written whole into a temporary sibling and swapped in by rename, so a reader sees the old
folder or the new one, never a mix. Loading checks every file against the manifest's checksums and
shapes and raises `IndexLoadError` on any mismatch: a bad index is never silently rebuilt.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ValidationError

from recgpt_domain import cooccurrence
from recgpt_domain.catalogue import fingerprint
from recgpt_domain.cooccurrence import CoOccurrence

FORMAT_VERSION = 1
MANIFEST_FILE = "manifest.json"
INDEX_FILE = "index.faiss"
VECTORS_FILE = "vectors.npy"
ITEM_IDS_FILE = "item_ids.json"
COOCCURRENCE_FILE = "cooccurrence.npz"
DATA_FILES = (INDEX_FILE, VECTORS_FILE, ITEM_IDS_FILE, COOCCURRENCE_FILE)


class IndexLoadError(RuntimeError):
    """The index folder is missing, corrupt or does not match what the service expects."""


class CooccurrenceManifest(BaseModel):
    behaviour_fingerprint: str
    window: int
    neighbours: int
    # Tables built before the exponents were settings used the cosine-like 0.5 and 0.5.
    seed_exponent: float = 0.5
    neighbour_exponent: float = 0.5
    users: int
    interactions: int
    built_at_unix: int


class SearchTuning(BaseModel):
    """Query-time knobs the build chose for its index, applied at load unless a setting overrides them."""

    # IVF lists visited per query; 0 for other types.
    nprobe: int = 0
    # HNSW candidate list; 0 for other types.
    ef_search: int = 0
    # recall@`recall_k` against exact search on a sample of the items, measured at build (1.0 for flat).
    recall: float = 1.0
    recall_k: int = 0


class IndexManifest(BaseModel):
    format_version: int = FORMAT_VERSION
    model: str
    dimension: int
    item_count: int
    built_at_unix: int
    # sha256 of the catalogue's items.jsonl the vectors were computed from.
    catalogue_fingerprint: str
    index_type: str
    # Parameters the index type was built with (IVF lists, HNSW links); part of freshness.
    index_params: dict[str, int]
    # Older manifests have none: their approximate indexes are searched with the settings' knobs.
    search: SearchTuning = SearchTuning()
    cooccurrence: CooccurrenceManifest
    # sha256 of each data file, checked at load.
    files: dict[str, str] = {}


@dataclass(frozen=True)
class StoredIndex:
    manifest: IndexManifest
    index: faiss.Index
    # (items, dimension) L2-normalised rows, in index order.
    vectors: npt.NDArray[np.float32]
    item_ids: list[str]
    cooccurrence: CoOccurrence


def read_manifest(folder: Path) -> IndexManifest:
    path = folder / MANIFEST_FILE
    if not path.is_file():
        raise IndexLoadError(f"no index at {folder} (missing {MANIFEST_FILE}): run recgpt-build-index")
    try:
        manifest = IndexManifest.model_validate_json(path.read_text())
    except (ValidationError, ValueError) as error:
        raise IndexLoadError(f"unreadable index manifest {path}: {error}") from error
    if manifest.format_version != FORMAT_VERSION:
        raise IndexLoadError(
            f"index at {folder} has format {manifest.format_version}, expected {FORMAT_VERSION}"
        )
    return manifest


def write(folder: Path, stored: StoredIndex) -> IndexManifest:
    """Writes the folder atomically (temporary sibling, then rename); returns the manifest written."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.new-", dir=folder.parent))
    try:
        faiss.write_index(stored.index, str(staging / INDEX_FILE))
        np.save(staging / VECTORS_FILE, stored.vectors, allow_pickle=False)
        (staging / ITEM_IDS_FILE).write_text(json.dumps(stored.item_ids))
        cooccurrence.save(stored.cooccurrence, staging / COOCCURRENCE_FILE)
        files = {name: fingerprint(staging / name) for name in DATA_FILES}
        manifest = stored.manifest.model_copy(update={"files": files})
        (staging / MANIFEST_FILE).write_text(manifest.model_dump_json(indent=2))
        _swap_in(staging, folder)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return manifest


def _swap_in(staging: Path, folder: Path) -> None:
    if not folder.exists():
        staging.rename(folder)
        return
    retired = Path(tempfile.mkdtemp(prefix=f".{folder.name}.old-", dir=folder.parent))
    retired.rmdir()
    folder.rename(retired)
    staging.rename(folder)
    shutil.rmtree(retired, ignore_errors=True)


def load(folder: Path) -> StoredIndex:
    """Reads and verifies the whole folder; raises IndexLoadError on anything amiss."""
    manifest = read_manifest(folder)
    for name in DATA_FILES:
        path = folder / name
        if not path.is_file():
            raise IndexLoadError(f"index at {folder} is missing {name}")
        expected = manifest.files.get(name)
        if expected is None or fingerprint(path) != expected:
            raise IndexLoadError(f"index file {path} does not match its manifest checksum")
    try:
        index = faiss.read_index(str(folder / INDEX_FILE))
        vectors = np.load(folder / VECTORS_FILE, allow_pickle=False)
        item_ids = json.loads((folder / ITEM_IDS_FILE).read_text())
        table = cooccurrence.load(folder / COOCCURRENCE_FILE, manifest.item_count)
    except (RuntimeError, ValueError, OSError, KeyError) as error:
        raise IndexLoadError(f"cannot read index at {folder}: {error}") from error
    shape = (manifest.item_count, manifest.dimension)
    if vectors.shape != shape or vectors.dtype != np.float32:
        raise IndexLoadError(f"vectors are {vectors.shape} {vectors.dtype}, manifest says {shape}")
    if index.ntotal != manifest.item_count or index.d != manifest.dimension:
        raise IndexLoadError(
            f"FAISS index holds {index.ntotal}x{index.d}, manifest says {shape[0]}x{shape[1]}"
        )
    if not isinstance(item_ids, list) or len(item_ids) != manifest.item_count:
        raise IndexLoadError(f"{ITEM_IDS_FILE} does not list {manifest.item_count} item ids")
    return StoredIndex(
        manifest=manifest,
        index=index,
        vectors=vectors,
        item_ids=[str(item_id) for item_id in item_ids],
        cooccurrence=table,
    )
