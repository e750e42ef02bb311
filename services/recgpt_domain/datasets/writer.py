"""Writes a catalogue folder at once: into a temporary folder beside the target, renamed into place."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
import uuid
from pathlib import Path

from recgpt_domain.catalogue import (
    BEHAVIOUR_FILE,
    ITEMS_FILE,
    MANIFEST_FILE,
    CatalogueManifest,
    fingerprint,
)
from recgpt_domain.datasets.dataset import ImportedDataset
from recgpt_domain.datasets.errors import CatalogueTargetError


def write_catalogue(
    out: Path, dataset: ImportedDataset, *, source: Path, source_format: str, source_fingerprint: str
) -> CatalogueManifest:
    """Replaces `out` as a whole with the dataset; on any failure `out` is left as it was."""
    check_target(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        staging.chmod(0o755)
        with (staging / ITEMS_FILE).open("w", encoding="utf-8") as handle:
            handle.writelines(item.model_dump_json() + "\n" for item in dataset.items)
        with (staging / BEHAVIOUR_FILE).open("w", encoding="utf-8") as handle:
            handle.writelines(history.model_dump_json() + "\n" for history in dataset.histories)
        manifest = CatalogueManifest(
            source=str(source.resolve()),
            source_format=source_format,
            items=len(dataset.items),
            users=len(dataset.histories),
            interactions=dataset.interactions,
            items_fingerprint=fingerprint(staging / ITEMS_FILE),
            created_at_unix=int(time.time()),
            source_fingerprint=source_fingerprint,
            behaviour_fingerprint=fingerprint(staging / BEHAVIOUR_FILE),
            held_out_last=dataset.held_out_last,
        )
        (staging / MANIFEST_FILE).write_text(manifest.model_dump_json(indent=2) + "\n")
        _swap_into_place(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return manifest


def check_target(out: Path) -> None:
    """Refuse to replace anything but an earlier catalogue (or an empty folder)."""
    if not out.exists():
        return
    if not out.is_dir():
        raise CatalogueTargetError(out, "exists and is not a directory")
    if (out / MANIFEST_FILE).is_file() or not any(out.iterdir()):
        return
    raise CatalogueTargetError(out, f"exists and is not a catalogue (no {MANIFEST_FILE}); not replacing it")


def _swap_into_place(staging: Path, out: Path) -> None:
    """Two renames on one file system; a reader sees the old folder or the new one, never a mix."""
    if not out.exists():
        os.rename(staging, out)
        return
    retired = out.parent / f".{out.name}.{uuid.uuid4().hex[:8]}.old"
    os.rename(out, retired)
    try:
        os.rename(staging, out)
    except BaseException:
        os.rename(retired, out)
        raise
    shutil.rmtree(retired, ignore_errors=True)
