"""The versioned entity-token artefact: one vector per catalogue item in the served LLM's input-embedding
space (RecGPT-V2's hybrid representation), the adaptor that made them, and what they were made for.

A folder `entities-<version>` under a models folder, written whole, `LATEST` naming the newest
(`recgpt_domain.artefact_folder`). Its manifest names the LLM (name, hidden size, the model folder's source
stamp) and the catalogue (its item ids' fingerprint): vectors made for another model or catalogue are refused
with the reason, never spliced into a prompt, since they would mean nothing to the engine.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, Field, ValidationError

from recgpt_domain import artefact_folder
from recgpt_domain.artefact_folder import FILES, ITEM_IDS_FILE, MANIFEST_FILE, items_fingerprint
from recgpt_domain.artefact_folder import ITEM_VECTORS_FILE as ITEM_VECTORS_FILE
from recgpt_domain.artefact_folder import LATEST_FILE as LATEST_FILE
from recgpt_domain.artefact_store import sha256_of

FORMAT_VERSION = 1
PREFIX = "entities-"


class EntityArtefactError(RuntimeError):
    """Entity vectors that cannot serve: missing, half-written, altered, or made for another model or
    catalogue."""


class EntityManifest(BaseModel):
    format_version: int = FORMAT_VERSION
    version: str = Field(min_length=1)
    # The LLM the vectors live in: its served name, input-embedding width and the model folder's stamp.
    llm_model: str = Field(min_length=1)
    llm_hidden_size: int = Field(ge=1)
    llm_source: dict[str, Any] = Field(default_factory=dict)
    # The text embedding the adaptor reads (the index's model) and its width.
    embedding_model: str = Field(min_length=1)
    embedding_dimension: int = Field(ge=1)
    items: int = Field(ge=0)
    items_fingerprint: str
    files: dict[str, str] = Field(default_factory=dict)
    hyperparameters: dict[str, Any] = Field(default_factory=dict)
    # Held-out items' figures: answer cross-entropy with the full text, the untrained stand-in, the adaptor.
    validation: dict[str, float] = Field(default_factory=dict)
    created_at_unix: int = 0
    train_seconds: float = 0.0


class EntityTable(BaseModel, arbitrary_types_allowed=True):
    """Item id -> its entity vector (float32, the LLM's hidden size)."""

    folder: Path
    manifest: EntityManifest
    rows: dict[str, int]
    vectors: Any  # (items, hidden) float32

    def vector(self, item_id: str) -> npt.NDArray[np.float32] | None:
        row = self.rows.get(item_id)
        return None if row is None else self.vectors[row]


def write(
    models_dir: Path,
    manifest: EntityManifest,
    item_ids: list[str],
    vectors: npt.NDArray[np.float32],
    adaptor_state: dict[str, Any],
) -> Path:
    """Writes the artefact and points LATEST at it; nothing is visible until complete."""
    if vectors.shape != (len(item_ids), manifest.llm_hidden_size):
        raise ValueError(f"vectors shaped {vectors.shape} for {len(item_ids)} items")

    def complete(files: dict[str, str]) -> str:
        fields = {"items": len(item_ids), "items_fingerprint": items_fingerprint(item_ids), "files": files}
        return manifest.model_copy(update=fields).model_dump_json(indent=2)

    name = f"{PREFIX}{manifest.version}"
    return artefact_folder.write(models_dir, name, item_ids, vectors, adaptor_state, complete)


def latest(models_dir: Path) -> Path | None:
    """The folder LATEST names; None when no entity vectors were trained (prompts keep the item texts)."""
    try:
        return artefact_folder.latest(models_dir, PREFIX)
    except ValueError as error:
        raise EntityArtefactError(str(error)) from None


def load(folder: Path, item_ids: list[str], llm_model: str) -> EntityTable:
    """Reads and checks an artefact against the served catalogue (`item_ids`, sorted as the trainer
    sorts them) and the served model's name; raises EntityArtefactError with the reason. (A width the
    engine does not take is its refusal, answered by the item texts.)"""
    path = folder / MANIFEST_FILE
    if not path.is_file():
        raise EntityArtefactError(f"{folder}: no {MANIFEST_FILE} (not an entity artefact, or half-written)")
    try:
        manifest = EntityManifest.model_validate_json(path.read_text())
    except ValidationError as error:
        raise EntityArtefactError(f"{path}: unreadable manifest: {error.error_count()} errors") from error
    if manifest.format_version != FORMAT_VERSION:
        raise EntityArtefactError(
            f"{folder}: format {manifest.format_version}, this code reads {FORMAT_VERSION}"
        )
    if manifest.llm_model != llm_model:
        raise EntityArtefactError(f"{folder}: made for {manifest.llm_model}, the engine serves {llm_model}")
    if manifest.items_fingerprint != items_fingerprint(item_ids):
        raise EntityArtefactError(
            f"{folder}: made for another catalogue ({manifest.items} items, "
            f"{manifest.items_fingerprint[:12]}), the served one has {len(item_ids)} items "
            f"({items_fingerprint(item_ids)[:12]})"
        )
    for name in FILES:
        expected = manifest.files.get(name)
        if expected is None or not (folder / name).is_file() or sha256_of(folder / name) != expected:
            raise EntityArtefactError(f"{folder}: {name} is missing or altered")
    stored = (folder / ITEM_IDS_FILE).read_text().split()
    vectors = np.load(folder / ITEM_VECTORS_FILE, allow_pickle=False)
    if stored != item_ids or vectors.shape != (len(item_ids), manifest.llm_hidden_size):
        raise EntityArtefactError(f"{folder}: item ids or vectors do not match the manifest")
    if not np.isfinite(vectors).all():
        raise EntityArtefactError(f"{folder}: vectors hold NaN or infinity")
    return EntityTable(
        folder=folder, manifest=manifest, rows={item: row for row, item in enumerate(stored)}, vectors=vectors
    )
