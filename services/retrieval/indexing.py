"""Builds the index folder from a catalogue folder, redoing only the parts whose inputs changed.

The embeddings depend on items.jsonl, the model and the index type (chosen by catalogue size unless set,
see `index_plan`) with its parameters; the co-occurrence table on behaviour.jsonl, its window and size,
and the item rows. Fresh parts are reused as they are.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from recgpt_domain import cooccurrence
from recgpt_domain.catalogue import (
    BEHAVIOUR_FILE,
    ITEMS_FILE,
    fingerprint,
    iter_histories,
    read_items,
)
from recgpt_domain.embedder import Embedder
from recgpt_serving.embedding.runtime import MODEL_NAME
from retrieval import embedding_cache, index_store
from retrieval.index_plan import calibrate, make_faiss_index, resolve_type, structure_params
from retrieval.index_store import CooccurrenceManifest, IndexLoadError, IndexManifest, StoredIndex
from retrieval.settings import IndexSettings, IndexType

log = logging.getLogger(__name__)

EmbedderSource = Callable[[], Embedder]


@dataclass(frozen=True)
class CatalogueState:
    items_fingerprint: str
    behaviour_fingerprint: str

    @classmethod
    def read(cls, catalogue_dir: Path) -> CatalogueState:
        for name in (ITEMS_FILE, BEHAVIOUR_FILE):
            if not (catalogue_dir / name).is_file():
                raise FileNotFoundError(f"catalogue {catalogue_dir} has no {name}")
        return cls(
            items_fingerprint=fingerprint(catalogue_dir / ITEMS_FILE),
            behaviour_fingerprint=fingerprint(catalogue_dir / BEHAVIOUR_FILE),
        )


@dataclass
class Staleness:
    """Why each part needs rebuilding; empty lists mean fresh."""

    embeddings: list[str] = field(default_factory=list)
    cooccurrence: list[str] = field(default_factory=list)

    @property
    def fresh(self) -> bool:
        return not self.embeddings and not self.cooccurrence


def index_params(settings: IndexSettings, items: int) -> dict[str, int]:
    """The parameters an index of `items` items gets from these settings (part of freshness)."""
    return structure_params(settings, index_type_for(settings, items), items)


def index_type_for(settings: IndexSettings, items: int) -> IndexType:
    return resolve_type(settings.index_type, items, settings.flat_max_items)


def staleness(
    manifest: IndexManifest | None,
    state: CatalogueState,
    settings: IndexSettings,
    model_name: str = MODEL_NAME,
) -> Staleness:
    result = Staleness()
    if manifest is None:
        result.embeddings.append("no usable index")
        result.cooccurrence.append("no usable index")
        return result
    if manifest.catalogue_fingerprint != state.items_fingerprint:
        result.embeddings.append("items changed")
    if manifest.model != model_name:
        result.embeddings.append(f"model changed ({manifest.model} -> {model_name})")
    wanted = index_type_for(settings, manifest.item_count)
    if manifest.index_type != wanted:
        result.embeddings.append(f"index type changed ({manifest.index_type} -> {wanted})")
    elif manifest.index_params != index_params(settings, manifest.item_count):
        result.embeddings.append("index parameters changed")
    co = manifest.cooccurrence
    if result.embeddings:
        result.cooccurrence.append("item rows rebuilt")
    if co.behaviour_fingerprint != state.behaviour_fingerprint:
        result.cooccurrence.append("behaviour changed")
    if co_parameters(co) != co_parameters(settings):
        result.cooccurrence.append("co-occurrence parameters changed")
    return result


def co_parameters(source: CooccurrenceManifest | IndexSettings) -> tuple[int, int, float, float]:
    """What a co-occurrence table was (or is to be) built with."""
    if isinstance(source, CooccurrenceManifest):
        return source.window, source.neighbours, source.seed_exponent, source.neighbour_exponent
    return (
        source.collaborative_window,
        source.collaborative_neighbours,
        source.collaborative_seed_exponent,
        source.collaborative_neighbour_exponent,
    )


def _read_existing(index_dir: Path) -> StoredIndex | None:
    """The current folder when it loads cleanly; a broken one is rebuilt (the build was asked for)."""
    if not (index_dir / index_store.MANIFEST_FILE).exists():
        return None
    try:
        return index_store.load(index_dir)
    except IndexLoadError as error:
        log.warning("existing index unusable, rebuilding", extra={"reason": str(error)})
        return None


@dataclass(frozen=True)
class BuildReport:
    action: str  # "skipped", "built", "cooccurrence-only"
    reasons: Staleness
    manifest: IndexManifest
    seconds: float


def ensure_index(
    settings: IndexSettings,
    embedder_source: EmbedderSource,
    force: bool = False,
    model_name: str = MODEL_NAME,
) -> BuildReport:
    """Brings the index folder up to date with the catalogue; loads the model only when needed."""
    start = time.perf_counter()
    state = CatalogueState.read(settings.catalogue_dir)
    existing = _read_existing(settings.index_dir)
    reasons = staleness(existing.manifest if existing else None, state, settings, model_name)
    if force:
        reasons.embeddings.append("forced")
        reasons.cooccurrence.append("forced")
        # A forced build starts from nothing, cached vectors included.
        embedding_cache.cache_path(settings.index_dir).unlink(missing_ok=True)
    if existing is not None and reasons.fresh:
        return BuildReport("skipped", reasons, existing.manifest, time.perf_counter() - start)

    items = read_items(settings.catalogue_dir)
    if not items:
        raise ValueError(f"catalogue {settings.catalogue_dir} has no items")
    if CatalogueState.read(settings.catalogue_dir) != state:
        raise RuntimeError(f"catalogue {settings.catalogue_dir} changed during the build; run it again")
    now = int(time.time())
    row_of = {item.item_id: row for row, item in enumerate(items)}
    if len(row_of) != len(items):
        raise ValueError(f"catalogue {settings.catalogue_dir} repeats item ids")
    table, users, interactions = cooccurrence.build(
        iter_histories(settings.catalogue_dir),
        row_of,
        settings.collaborative_window,
        settings.collaborative_neighbours,
        settings.collaborative_seed_exponent,
        settings.collaborative_neighbour_exponent,
    )
    co_manifest = CooccurrenceManifest(
        behaviour_fingerprint=state.behaviour_fingerprint,
        window=settings.collaborative_window,
        neighbours=settings.collaborative_neighbours,
        seed_exponent=settings.collaborative_seed_exponent,
        neighbour_exponent=settings.collaborative_neighbour_exponent,
        users=users,
        interactions=interactions,
        built_at_unix=now,
    )
    if existing is not None and not reasons.embeddings:
        index, vectors = existing.index, existing.vectors
        manifest = existing.manifest.model_copy(update={"cooccurrence": co_manifest})
    else:
        embedder = embedder_source()
        if embedder.model_name != model_name:
            raise ValueError(f"embedder is {embedder.model_name}, expected {model_name}")
        vectors, embedded = embedding_cache.encode_with_cache(
            embedder,
            [item.embedding_text() for item in items],
            embedding_cache.cache_path(settings.index_dir),
        )
        log.info("items embedded", extra={"embedded": embedded, "reused": len(items) - embedded})
        index_type = index_type_for(settings, len(items))
        params = index_params(settings, len(items))
        index = make_faiss_index(vectors, index_type, params)
        fixed = settings.ivf_nprobe if index_type == "ivf" else settings.hnsw_ef_search
        tuning = calibrate(index, index_type, params, vectors, settings.index_target_recall, fixed)
        log.info(
            "index built",
            extra={"index_type": index_type, "params": params, "search": tuning.model_dump()},
        )
        manifest = IndexManifest(
            model=embedder.model_name,
            dimension=embedder.dimension,
            item_count=len(items),
            built_at_unix=now,
            catalogue_fingerprint=state.items_fingerprint,
            index_type=index_type,
            index_params=params,
            search=tuning,
            cooccurrence=co_manifest,
        )
    stored = StoredIndex(
        manifest=manifest,
        index=index,
        vectors=vectors,
        item_ids=[item.item_id for item in items],
        cooccurrence=table,
    )
    written = index_store.write(settings.index_dir, stored)
    action = "built" if reasons.embeddings else "cooccurrence-only"
    return BuildReport(action, reasons, written, time.perf_counter() - start)
