"""The versioned towers artefact: weights, item vectors, config, data fingerprint, metrics, fusion weights.

An artefact is a folder `towers-<version>` under a models folder, written in a scratch folder and renamed
into place; `LATEST` (replaced atomically) names the newest. Its manifest lists every file with its sha256,
so a half-written or altered artefact fails to load with a reason, and the item ids it was trained on must
equal the serving catalogue's, so an artefact of another catalogue never serves.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from pydantic import BaseModel, Field, ValidationError

from recgpt_domain import artefact_folder

# Re-exported: the towers' readers and writers name them through this module.
from recgpt_domain.artefact_folder import ITEM_IDS_FILE as ITEM_IDS_FILE
from recgpt_domain.artefact_folder import ITEM_VECTORS_FILE as ITEM_VECTORS_FILE
from recgpt_domain.artefact_folder import LATEST_FILE as LATEST_FILE
from recgpt_domain.artefact_folder import MANIFEST_FILE as MANIFEST_FILE
from recgpt_domain.artefact_folder import WEIGHTS_FILE as WEIGHTS_FILE
from recgpt_domain.artefact_folder import items_fingerprint as items_fingerprint
from recgpt_domain.artefact_folder import new_version as new_version
from recgpt_domain.artefact_store import sha256_of
from recgpt_domain.towers.fusion_spread import FusionSpread as FusionSpread
from recgpt_domain.towers.model import TowerConfig
from recgpt_domain.towers.ranker import Ranker

FORMAT_VERSION = 1
PREFIX = "towers-"


class ArtefactError(RuntimeError):
    """An artefact that cannot serve: missing, half-written, altered, or made for another catalogue."""


class MemberReport(BaseModel):
    seed: int
    epoch: int
    epochs_run: int
    seconds: float
    validation: dict[str, float]


class FusionWeights(BaseModel):
    """Chosen on the validation slice by the training command (never guessed)."""

    # recgpt-v1: beta·(the baseline's fusion below) + (1 - beta)·tag route; 1 serves the baseline itself.
    beta: float = Field(ge=0, le=1)
    # baseline: collaborative_weight·learned + cooccurrence_weight·co-occurrence + content_weight·content
    # (the learned route answers `collaborative`; co-occurrence's sharper head joins it when weighted).
    collaborative_weight: float = Field(ge=0, le=1)
    content_weight: float = Field(ge=0, le=1)
    cooccurrence_weight: float = Field(default=0.0, ge=0, le=1)
    # What each choice scored on the validation slice.
    validation: dict[str, dict[str, float]] = Field(default_factory=dict)
    # Folds of validation users the weights were cross-fitted over (0: one argmax, older artefacts), and
    # each choice's spread over them ("baseline", "recgpt_v1").
    folds: int = Field(default=0, ge=0)
    spread: dict[str, FusionSpread] = Field(default_factory=dict)
    # The learned ranker over these routes' candidates, where it beat this weighting on the validation users:
    # served instead of it (the weighting stays one of its features and the answer when it is absent).
    ranker: Ranker | None = None


class ArtefactManifest(BaseModel):
    format_version: int
    version: str
    created_at_unix: int
    dataset: str
    # The dataset directory as given to the training command: the log the co-occurrence baseline reads.
    dataset_dir: str = ""
    # The dataset's source files and importer version (recgpt_domain.datasets.importer).
    data_fingerprint: str
    # sha256 of the item ids in row order: what the serving catalogue must match.
    items_fingerprint: str
    items: int
    text_model: str
    config: TowerConfig
    training: dict[str, Any]
    members: list[MemberReport]
    # The ensemble's validation figures (all members' scores summed).
    validation: dict[str, float]
    validation_users: int
    trained_users: int
    skipped_users: int
    training_seconds: float
    fusion: FusionWeights | None = None
    # File name -> sha256.
    files: dict[str, str]

    @property
    def dimension(self) -> int:
        return self.config.dim * len(self.members)


def write(
    models_dir: Path,
    manifest_fields: dict[str, Any],
    item_ids: list[str],
    item_vectors: npt.NDArray[np.float32],
    weights: dict[str, Any],
) -> Path:
    """Writes the artefact and points LATEST at it; nothing is visible until complete."""

    def manifest(files: dict[str, str]) -> str:
        return ArtefactManifest(
            **manifest_fields,
            format_version=FORMAT_VERSION,
            items=len(item_ids),
            items_fingerprint=items_fingerprint(item_ids),
            files=files,
        ).model_dump_json(indent=2)

    name = f"{PREFIX}{manifest_fields['version']}"
    return artefact_folder.write(models_dir, name, item_ids, item_vectors, weights, manifest)


def latest(models_dir: Path) -> Path | None:
    """The folder LATEST names, or None when there is no artefact at all (the co-occurrence fallback)."""
    try:
        return artefact_folder.latest(models_dir, PREFIX)
    except ValueError as error:
        raise ArtefactError(str(error)) from None


def read_manifest(folder: Path) -> ArtefactManifest:
    path = folder / MANIFEST_FILE
    if not path.is_file():
        raise ArtefactError(f"{folder}: no {MANIFEST_FILE} (not an artefact, or a half-written one)")
    try:
        manifest = ArtefactManifest.model_validate_json(path.read_text())
    except ValidationError as error:
        raise ArtefactError(f"{path}: unreadable manifest: {error.error_count()} errors") from error
    if manifest.format_version != FORMAT_VERSION:
        raise ArtefactError(f"{folder}: format {manifest.format_version}, this code reads {FORMAT_VERSION}")
    return manifest


class LoadedArtefact(BaseModel, arbitrary_types_allowed=True):
    folder: Path
    manifest: ArtefactManifest
    item_vectors: Any  # (items, members·dim) float32
    weights: dict[str, Any]


def load(folder: Path, item_ids: list[str] | None = None) -> LoadedArtefact:
    """Reads and checks an artefact; with `item_ids`, also that it was trained on that catalogue."""
    manifest = read_manifest(folder)
    for name, expected in manifest.files.items():
        path = folder / name
        if not path.is_file():
            raise ArtefactError(f"{folder}: {name} is missing (half-written artefact)")
        if sha256_of(path) != expected:
            raise ArtefactError(f"{folder}: {name} does not match its checksum (altered or half-written)")
    stored_ids = (folder / ITEM_IDS_FILE).read_text().split()
    if items_fingerprint(stored_ids) != manifest.items_fingerprint:
        raise ArtefactError(f"{folder}: item ids do not match the manifest")
    if item_ids is not None and stored_ids != item_ids:
        raise ArtefactError(
            f"{folder}: trained on another catalogue ({manifest.items} items, "
            f"{manifest.items_fingerprint[:12]}), the served one has {len(item_ids)} items "
            f"({items_fingerprint(item_ids)[:12]})"
        )
    vectors = np.load(folder / ITEM_VECTORS_FILE, allow_pickle=False)
    if vectors.shape != (manifest.items, manifest.dimension):
        raise ArtefactError(f"{folder}: item vectors shaped {vectors.shape}, manifest says otherwise")
    weights = torch.load(folder / WEIGHTS_FILE, map_location="cpu", weights_only=True)
    return LoadedArtefact(folder=folder, manifest=manifest, item_vectors=vectors, weights=weights)
