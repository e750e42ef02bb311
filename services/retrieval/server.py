"""The retrieval process's parts put together: gRPC server, servicer, index loading."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import faiss

from recgpt.retrieval.v1 import retrieval_pb2_grpc
from recgpt_domain import artefact_store
from recgpt_domain.artefact_store import ArtefactStoreError
from recgpt_domain.behaviour_store import BehaviourStore
from recgpt_domain.catalogue import BEHAVIOUR_FILE, fingerprint
from recgpt_domain.embedder import Embedder
from recgpt_domain.towers import artefact
from recgpt_serving import metrics
from recgpt_serving.grpc_server import GrpcService
from retrieval import index_store
from retrieval.indexing import ensure_index
from retrieval.learned_route import LearnedRoute, UserVectorSettings
from retrieval.retriever import Retriever, load_retriever
from retrieval.servicer import SERVICE_NAME, RetrievalServicer
from retrieval.settings import RetrievalSettings

log = logging.getLogger(__name__)


def prepare_retriever(settings: RetrievalSettings, embedder: Embedder) -> Retriever:
    """Loads the index (building it first only when `build_on_start` allows); raises IndexLoadError."""
    if settings.build_on_start:
        report = ensure_index(settings, lambda: embedder, model_name=embedder.model_name)
        log.info(
            "index checked at start-up",
            extra={"action": report.action, "seconds": round(report.seconds, 2)},
        )
    stored = index_store.load(settings.index_dir)
    behaviour = settings.catalogue_dir / BEHAVIOUR_FILE
    built_from = stored.manifest.cooccurrence.behaviour_fingerprint
    if behaviour.is_file() and fingerprint(behaviour) != built_from:
        # Still consistent (rows match the items), only older: serve it, but say so.
        log.warning("co-occurrence built from an older behaviour log; run recgpt-build-index")
    return load_retriever(stored, settings, embedder)


class RetrievalServer:
    """Health says NOT_SERVING from `start` until `load` has attached an index."""

    def __init__(self, settings: RetrievalSettings, store: BehaviourStore) -> None:
        self.settings = settings
        self.grpc = GrpcService(
            "retrieval",
            [SERVICE_NAME],
            max_concurrent_rpcs=settings.max_concurrent_rpcs,
            max_connection_age_s=settings.max_connection_age_s,
            connection_age_grace_s=settings.stop_grace_s,
        )
        self.servicer = RetrievalServicer(settings, store)
        add_servicer: Any = retrieval_pb2_grpc.add_RetrievalServiceServicer_to_server
        add_servicer(self.servicer, self.grpc.server)
        self.port = self.grpc.bind(settings.bind_host, settings.port)
        self._towers_task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.grpc.start()

    async def load(self, embedder: Embedder) -> Retriever:
        faiss.omp_set_num_threads(self.settings.faiss_threads)
        retriever = await asyncio.to_thread(prepare_retriever, self.settings, embedder)
        self.servicer.attach(retriever)
        await asyncio.to_thread(self.servicer.prepare_feed_tools)
        await self._follow_towers(retriever)
        metrics.INDEX_ITEMS.labels("items").set(retriever.manifest.item_count)
        log.info(
            "index loaded",
            extra={
                "items": retriever.manifest.item_count,
                "index_type": retriever.manifest.index_type,
                "gpu": retriever.searcher.on_gpu,
            },
        )
        await self.grpc.mark_serving()
        return retriever

    async def _follow_towers(self, retriever: Retriever) -> None:
        """Loads the towers artefact when one is configured, then checks for a newer one periodically."""
        towers_dir = self.settings.towers_dir
        if towers_dir is None or not str(towers_dir):
            return
        users = UserVectorSettings(
            runtime=self.settings.towers_runtime,
            threads=self.settings.towers_threads,
            cache_size=self.settings.towers_user_cache_size,
        )
        route = LearnedRoute(towers_dir, retriever.table.ids, use_gpu=self.settings.use_gpu, users=users)
        await asyncio.to_thread(self._fetch_towers, towers_dir)
        await asyncio.to_thread(route.refresh)
        self.servicer.learned = route
        self._towers_task = asyncio.create_task(self._refresh_towers(route, towers_dir))

    async def _refresh_towers(self, route: LearnedRoute, towers_dir: Path) -> None:
        while True:
            await asyncio.sleep(self.settings.towers_refresh_s)
            await asyncio.to_thread(self._fetch_towers, towers_dir)
            await asyncio.to_thread(route.refresh)

    def _fetch_towers(self, towers_dir: Path) -> None:
        """Fetches the store's newest towers into `towers_dir`; on failure the cached ones serve."""
        if not self.settings.artefact_store_url:
            return
        store = artefact_store.towers(self.settings.artefact_store_url, artefact.LATEST_FILE)
        try:
            store.fetch_latest(towers_dir)
        except (ArtefactStoreError, OSError) as error:
            metrics.TOWERS_ARTEFACT_LOADS.labels("fetch_failed").inc()
            log.warning("towers artefact not fetched; the cached one serves", extra={"error": repr(error)})

    async def stop(self, grace_s: float) -> None:
        if self._towers_task is not None:
            self._towers_task.cancel()
        await self.grpc.stop(grace_s)
        if self.servicer.retriever is not None:
            self.servicer.retriever.close()
