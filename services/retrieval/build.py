"""`recgpt-build-index`: builds or refreshes the index folder of a catalogue folder."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import get_args

from recgpt_domain.embedder import Embedder
from recgpt_serving import logs
from recgpt_serving.embedding.runtime import load_bundled
from retrieval.index_store import IndexManifest
from retrieval.indexing import BuildReport, EmbedderSource, ensure_index
from retrieval.settings import IndexChoice, IndexSettings


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="recgpt-build-index",
        description="Embed the catalogue's items into a FAISS index and count item co-occurrence; "
        "skips what is already fresh. Defaults come from RECGPT_* variables.",
    )
    parser.add_argument("--catalogue", type=Path, help="catalogue folder (RECGPT_CATALOGUE_DIR)")
    parser.add_argument("--index", type=Path, help="index folder to write (RECGPT_INDEX_DIR)")
    parser.add_argument(
        "--index-type",
        choices=get_args(IndexChoice),
        help="RECGPT_INDEX_TYPE; auto (the default) is flat up to RECGPT_FLAT_MAX_ITEMS items, IVF beyond",
    )
    parser.add_argument("--force", action="store_true", help="rebuild even when fresh")
    return parser.parse_args(argv)


def settings_from(args: argparse.Namespace) -> IndexSettings:
    overrides = {
        "catalogue_dir": args.catalogue,
        "index_dir": args.index,
        "index_type": args.index_type,
    }
    return IndexSettings(**{key: value for key, value in overrides.items() if value is not None})


def _knobs(manifest: IndexManifest) -> str:
    """The index's parameters and its calibrated search knob with the recall it reached."""
    search = manifest.search
    knobs = {**manifest.index_params, "nprobe": search.nprobe, "ef_search": search.ef_search}
    shown = ", ".join(f"{name} {value}" for name, value in knobs.items() if value)
    recall = f"recall@{search.recall_k} {search.recall:.3f}" if manifest.index_type != "flat" else "exact"
    return f"({shown + '; ' if shown else ''}{recall})"


def describe(report: BuildReport, settings: IndexSettings) -> str:
    manifest = report.manifest
    if report.action == "skipped":
        head = f"index at {settings.index_dir} is fresh: skipped"
    else:
        reasons = report.reasons.embeddings or report.reasons.cooccurrence
        head = f"index at {settings.index_dir}: {report.action} ({'; '.join(reasons)})"
    co = manifest.cooccurrence
    return (
        f"{head} in {report.seconds:.1f}s\n"
        f"  {manifest.item_count} items, {manifest.dimension}-d {manifest.model}, "
        f"{manifest.index_type} index {_knobs(manifest)} built at {manifest.built_at_unix}\n"
        f"  co-occurrence: {co.users} users, {co.interactions} interactions, "
        f"window {co.window}, {co.neighbours} neighbours per item"
    )


def main(argv: Sequence[str] | None = None, embedder_source: EmbedderSource | None = None) -> None:
    """Builds what is stale; `embedder_source` defaults to loading the bundled model (only if needed)."""
    args = parse_args(argv)
    logs.configure("retrieval-build", "WARNING")
    try:
        settings = settings_from(args)
    except ValueError as error:
        sys.exit(f"recgpt-build-index: {error}\n(give --catalogue and --index, or set RECGPT_*)")

    def bundled() -> Embedder:
        return load_bundled(settings.embedding_batch_size, settings.embedding_device)

    try:
        report = ensure_index(settings, embedder_source or bundled, force=args.force)
    except (OSError, ValueError, RuntimeError) as error:
        logging.getLogger(__name__).debug("build failed", exc_info=True)
        sys.exit(f"recgpt-build-index: {error}")
    sys.stdout.write(describe(report, settings) + "\n")


if __name__ == "__main__":
    main()
