"""Source folder -> catalogue folder, skipped when the catalogue already records the same source."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

from pydantic import ValidationError

from recgpt_domain.catalogue import CatalogueManifest, fingerprint, read_manifest
from recgpt_domain.datasets import formats
from recgpt_domain.datasets.dataset import hold_out_last
from recgpt_domain.datasets.writer import check_target, write_catalogue

# Part of the source fingerprint: bump it when the mapping changes, so old catalogues are re-imported.
IMPORTER_VERSION = "1"


def source_fingerprint(source: Path, fmt: str, held_out_last: bool = False) -> str:
    """sha256 over the importer version, the format, the hold-out and the name and content of every file."""
    mode = " hold-out-last" if held_out_last else ""
    digest = hashlib.sha256(f"recgpt-import {IMPORTER_VERSION} {fmt}{mode}\n".encode())
    for path in formats.source_files(source, fmt):
        if path.is_file():
            digest.update(f"{path.name}\0{fingerprint(path)}\n".encode())
    return digest.hexdigest()


def fresh_manifest(
    source: Path, out: Path, fmt: str = "auto", held_out_last: bool = False
) -> CatalogueManifest | None:
    """The manifest of `out` when it was imported from exactly these source files, else None."""
    resolved = formats.resolve_format(source, fmt)
    try:
        manifest = read_manifest(out)
    except (OSError, ValueError, ValidationError):
        return None
    if manifest.source_format != resolved or not manifest.source_fingerprint:
        return None
    wanted = source_fingerprint(source, resolved, held_out_last)
    return manifest if manifest.source_fingerprint == wanted else None


def import_dataset(
    source: Path,
    out: Path,
    fmt: str = "auto",
    on_note: Callable[[str], None] | None = None,
    held_out_last: bool = False,
) -> CatalogueManifest:
    """Reads `source` in format `fmt` (auto-detected by default) and replaces the catalogue at `out`.

    Raises DatasetFormatError naming file and line for bad input; `out` is then left untouched.
    """
    resolved = formats.resolve_format(source, fmt)
    check_target(out)
    fingerprint_before = source_fingerprint(source, resolved, held_out_last)
    dataset = formats.read(source, resolved)
    if held_out_last:
        dataset = hold_out_last(dataset)
    if on_note is not None:
        for note in dataset.notes:
            on_note(note)
    return write_catalogue(
        out,
        dataset,
        source=source,
        source_format=resolved,
        source_fingerprint=fingerprint_before,
    )
