"""The learned collaborative route: the towers artefact named by `LATEST`, searched in its own FAISS index.

The artefact is optional: without one (or while the named one fails to load) the collaborative route
answers from co-occurrence, and each answer's route says which. A new artefact is picked up while serving:
`refresh` (run every few seconds by the server) reads `LATEST`, loads a changed artefact off the event loop,
checks it against the served catalogue, prepares its user towers (`user_tower_runtime`), and swaps it in with
an empty cache of user vectors (`user_cache`); a failure is logged and counted and the previous model
keeps serving.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np
import torch

from recgpt_domain.towers import artefact, ranker
from recgpt_domain.towers.artefact import ArtefactError
from recgpt_domain.towers.learned_model import LearnedModel, Vectors
from recgpt_serving import metrics
from retrieval.filters import Mask
from retrieval.settings import TowersRuntime
from retrieval.user_cache import USER_VECTOR, UserCache, fingerprint
from retrieval.user_tower_runtime import UserEncoder, user_encoder
from retrieval.vector_search import Hits, VectorSearcher

log = logging.getLogger(__name__)

ROUTE_LEARNED = "learned"
# The artefact's ranker ordered the learned route's candidates with the other routes' (towers' ranker).
ROUTE_RANKED = "ranked"


@dataclass(frozen=True)
class UserVectorSettings:
    """How served user vectors are computed and kept (RetrievalSettings' `towers_*`)."""

    runtime: TowersRuntime = "numpy"
    threads: int = 1
    # Users whose last vector is kept; 0 keeps none.
    cache_size: int = 0


@dataclass(frozen=True)
class ServedModel:
    model: LearnedModel
    searcher: VectorSearcher
    folder: Path
    encode: UserEncoder
    cache: UserCache[Vectors] | None = None
    # The item vectors' lengths, for the ranker's similarity features (computed once per artefact).
    item_norms: Vectors | None = None

    @property
    def version(self) -> str:
        return self.model.version

    def user_vector(self, recent_first: Sequence[int], user_id: str = "") -> Vectors:
        """The user vector from item rows given most recent first (as the behaviour log returns them);
        kept for `user_id` (when given) until the items the tower reads change."""
        # Oldest first, the most recent max_len: all the tower reads, so all the fingerprint needs.
        window = list(reversed(recent_first[: self.model.config.max_len]))
        cache = self.cache if user_id else None
        behaviour = fingerprint(window) if cache is not None else b""
        if cache is not None and (cached := cache.get(user_id, behaviour)) is not None:
            return cached
        started = time.perf_counter()
        try:
            vector = self.encode([window])
        finally:
            metrics.TOWERS_USER_VECTOR_DURATION.observe(time.perf_counter() - started)
        if cache is not None:
            vector.flags.writeable = False  # handed to every later caller: none may change it
            cache.put(user_id, behaviour, vector)
        return vector

    def search(self, queries: Vectors, k: int, allowed: Mask | None, per_query: int = 0) -> Hits:
        return self.searcher.search(np.ascontiguousarray(queries, dtype=np.float32), k, allowed, per_query)


def load_served(
    folder: Path, item_ids: list[str], use_gpu: bool, users: UserVectorSettings | None = None
) -> ServedModel:
    """Loads and checks an artefact against the served catalogue; raises ArtefactError."""
    users = users or UserVectorSettings()
    model = LearnedModel.from_artefact(artefact.load(folder, item_ids))
    index = faiss.IndexFlatIP(model.dimension)
    index.add(model.item_vectors)
    return ServedModel(
        model,
        VectorSearcher(index, model.item_vectors, "flat", use_gpu=use_gpu),
        folder,
        user_encoder(model, users.runtime),
        UserCache[Vectors](USER_VECTOR, users.cache_size) if users.cache_size > 0 else None,
        ranker.vector_norms(model.item_vectors),
    )


class LearnedRoute:
    """Holds the current served model (or None) and follows `LATEST` under the models folder."""

    def __init__(
        self,
        models_dir: Path | None,
        item_ids: list[str],
        use_gpu: bool = False,
        users: UserVectorSettings | None = None,
    ) -> None:
        self.users = users or UserVectorSettings()
        # One request's user vector is a small forward pass: one thread avoids thread hand-offs on a busy CPU.
        torch.set_num_threads(self.users.threads)
        self.models_dir = models_dir
        self.item_ids = item_ids
        self.use_gpu = use_gpu
        self.current: ServedModel | None = None
        self._failed: Path | None = None

    def refresh(self) -> ServedModel | None:
        """Loads the artefact LATEST names when it changed; keeps the previous one on any failure."""
        if self.models_dir is None:
            return None
        try:
            folder = artefact.latest(self.models_dir)
        except (ArtefactError, OSError) as error:
            self._fail(None, error)
            return self.current
        if (
            folder is None
            or (self.current is not None and folder == self.current.folder)
            or folder == self._failed
        ):
            return self.current
        try:
            served = load_served(folder, self.item_ids, self.use_gpu, self.users)
        except (ArtefactError, OSError, ValueError, RuntimeError) as error:
            self._fail(folder, error)
            return self.current
        self.current, self._failed = served, None
        metrics.TOWERS_ARTEFACT_LOADS.labels("loaded").inc()
        log.info(
            "towers artefact loaded",
            extra={
                "version": served.version,
                "dimension": served.model.dimension,
                "user_tower_runtime": self.users.runtime,
            },
        )
        return served

    def _fail(self, folder: Path | None, error: Exception) -> None:
        self._failed = folder
        metrics.TOWERS_ARTEFACT_LOADS.labels("failed").inc()
        log.error(
            "towers artefact not loaded; the collaborative route keeps its previous model or co-occurrence",
            extra={"artefact": str(folder), "reason": str(error)},
        )
