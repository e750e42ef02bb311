"""The canonical catalogue and behaviour log every dataset is imported into, and how they sit on disk.

A catalogue folder holds `items.jsonl` (one `Item` a line), `behaviour.jsonl` (one `UserHistory` a line,
interactions oldest first) and `manifest.json` (a `CatalogueManifest`). Writers replace the folder as a
whole, so a reader never sees half of an import.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

from pydantic import BaseModel, Field

ITEMS_FILE = "items.jsonl"
BEHAVIOUR_FILE = "behaviour.jsonl"
MANIFEST_FILE = "manifest.json"


class Item(BaseModel):
    item_id: str = Field(min_length=1)
    title: str
    brand: str = ""
    category_path: list[str] = Field(default_factory=list)
    description: str = ""

    @property
    def category(self) -> str:
        """The most specific category level known, the unit that tags map to."""
        return self.category_path[-1] if self.category_path else ""

    def embedding_text(self) -> str:
        """The text the item is embedded from: its core attributes, most telling first."""
        parts = [self.title, " > ".join(self.category_path), self.brand]
        return ". ".join(part for part in parts if part)


class Interaction(BaseModel):
    item_id: str = Field(min_length=1)
    # Seconds since the epoch; 0 where the source has none (order is still chronological).
    timestamp: int = 0
    # Explicit rating where the source has one, else None.
    rating: float | None = None
    behaviour: str = "review"


class UserHistory(BaseModel):
    user_id: str = Field(min_length=1)
    interactions: list[Interaction]


class CatalogueManifest(BaseModel):
    source: str
    source_format: str
    items: int
    users: int
    interactions: int
    # sha256 of items.jsonl: the FAISS index is rebuilt only when this changes.
    items_fingerprint: str
    created_at_unix: int
    # sha256 over the source files and the importer version: a re-import is skipped while it matches.
    source_fingerprint: str = ""
    # sha256 of behaviour.jsonl: Redis is reloaded only when this changes.
    behaviour_fingerprint: str = ""
    # Each user's last interaction was left out, so an evaluation of these users has unseen targets.
    held_out_last: bool = False


def fingerprint(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_manifest(folder: Path) -> CatalogueManifest:
    return CatalogueManifest.model_validate_json((folder / MANIFEST_FILE).read_text())


def read_items(folder: Path) -> list[Item]:
    with (folder / ITEMS_FILE).open() as handle:
        return [Item.model_validate_json(line) for line in handle if line.strip()]


def iter_histories(folder: Path) -> Iterator[UserHistory]:
    with (folder / BEHAVIOUR_FILE).open() as handle:
        for line in handle:
            if line.strip():
                yield UserHistory.model_validate_json(line)
