"""A versioned artefact folder of item vectors, written whole: its files go to a scratch folder beside its
place, are checksummed into the manifest and synced, and the folder is renamed into place before `LATEST`
names it. A reader never sees half an artefact, and an altered file fails its checksum. The towers'
(`recgpt_domain.towers.artefact`) and the entity tokens' (`recgpt_domain.entity_artefact`) artefacts are such
folders.
"""

from __future__ import annotations

import hashlib
import io
import os
import secrets
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import torch

from recgpt_domain.artefact_store import sha256_of

MANIFEST_FILE = "manifest.json"
LATEST_FILE = "LATEST"
ITEM_VECTORS_FILE = "item_vectors.npy"
ITEM_IDS_FILE = "item_ids.txt"
WEIGHTS_FILE = "weights.pt"
FILES = (ITEM_VECTORS_FILE, ITEM_IDS_FILE, WEIGHTS_FILE)


def items_fingerprint(item_ids: list[str]) -> str:
    return hashlib.sha256("\n".join(item_ids).encode()).hexdigest()


def new_version() -> str:
    """Sortable by time, and unique even for two artefacts one process writes within a second (the splits
    of `eval-retrieval`): 20261128T120000Z-<pid>-<4 random hex digits>."""
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + f"-{os.getpid()}-{secrets.token_hex(2)}"


def write(
    models_dir: Path,
    name: str,
    item_ids: list[str],
    item_vectors: npt.NDArray[np.float32],
    weights: dict[str, Any],
    manifest: Callable[[dict[str, str]], str],
) -> Path:
    """Writes folder `name` under `models_dir` and points LATEST at it; `manifest` makes the manifest's JSON
    from the files' checksums."""
    final = models_dir / name
    scratch = models_dir / f".{name}.partial"
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    np.save(scratch / ITEM_VECTORS_FILE, np.ascontiguousarray(item_vectors, dtype=np.float32))
    (scratch / ITEM_IDS_FILE).write_text("\n".join(item_ids) + "\n")
    buffer = io.BytesIO()
    torch.save(weights, buffer)
    (scratch / WEIGHTS_FILE).write_bytes(buffer.getvalue())
    (scratch / MANIFEST_FILE).write_text(manifest({file: sha256_of(scratch / file) for file in FILES}))
    for path in scratch.iterdir():
        with path.open("rb") as handle:
            os.fsync(handle.fileno())
    os.rename(scratch, final)
    point_latest(models_dir, final.name)
    return final


def point_latest(models_dir: Path, name: str) -> None:
    pointer = models_dir / f".{LATEST_FILE}.{os.getpid()}.tmp"
    pointer.write_text(name + "\n")
    os.replace(pointer, models_dir / LATEST_FILE)


def latest(models_dir: Path, prefix: str) -> Path | None:
    """The folder LATEST names, or None when there is none; ValueError when it names no `prefix` folder."""
    pointer = models_dir / LATEST_FILE
    if not pointer.is_file():
        return None
    name = pointer.read_text().strip()
    if not name.startswith(prefix) or "/" in name:
        raise ValueError(f"{pointer} names {name!r}, not an artefact folder")
    return models_dir / name
