"""Settings of the retrieval service and of the index builder, read from `RECGPT_*` variables."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from recgpt_domain import cooccurrence
from recgpt_serving.settings import GrpcServiceSettings

IndexType = Literal["flat", "ivf", "hnsw"]
# What the settings may ask for: a type, or auto (chosen by catalogue size at build).
IndexChoice = Literal["auto", "flat", "ivf", "hnsw"]
FaissDevice = Literal["auto", "cpu", "gpu"]
TowersRuntime = Literal["numpy", "torch"]


class IndexSettings(BaseSettings):
    """What the index builder needs; no Redis or ports, so `recgpt-build-index` runs anywhere."""

    model_config = SettingsConfigDict(
        env_prefix="RECGPT_", extra="ignore", frozen=True, populate_by_name=True
    )

    catalogue_dir: Path
    index_dir: Path
    # auto: exact flat up to `flat_max_items`, IVF beyond; flat, ivf or hnsw force that type.
    index_type: IndexChoice = "auto"
    # A flat search costs about 55 ns per item on one core here (5.5 ms at 100,000 items, 55 ms at a
    # million): past this size it would take a large share of the gateway's 100 ms retrieval deadline.
    flat_max_items: int = Field(default=100_000, ge=0)
    # IVF lists; 0 picks about 4·sqrt(items).
    ivf_nlist: int = Field(default=0, ge=0)
    # IVF lists visited per query, HNSW candidate list: 0 takes what the build calibrated (the smallest
    # value reaching `index_target_recall` on a sample of the items), recorded in the manifest; > 0 is used
    # as is, at build and at load.
    ivf_nprobe: int = Field(default=0, ge=0)
    hnsw_m: int = Field(default=32, ge=4)
    hnsw_ef_search: int = Field(default=0, ge=0)
    # Recall@50 against exact search that the build calibrates an approximate index to.
    index_target_recall: float = Field(default=0.95, gt=0, le=1)
    # Where FAISS searches: auto takes a GPU when faiss sees one, gpu refuses to start without one.
    faiss_device: FaissDevice = "auto"
    # Texts per forward pass; batches are sorted by length, so they pad little. On 2 cores the OpenVINO
    # backend embeds 440 item texts/s at 16, 480 at 32 and 490 at 64 (torch: 140 at 16, 120 at 32).
    embedding_batch_size: int = Field(default=32, ge=1)
    # torch device for the embedder ("cpu", "cuda"; empty lets sentence-transformers choose); the OpenVINO
    # backend (RECGPT_EMBEDDING_BACKEND) runs on the CPU.
    embedding_device: str = ""
    # Co-occurrence: pairs up to this many positions apart in a user's sequence count, weighted 1/distance.
    collaborative_window: int = Field(default=cooccurrence.WINDOW, ge=1)
    # Neighbours kept per item.
    collaborative_neighbours: int = Field(default=cooccurrence.NEIGHBOURS, ge=1)
    # A pair's weight is divided by count(seed)^this · count(neighbour)^the next (recgpt_domain.cooccurrence).
    collaborative_seed_exponent: float = Field(default=cooccurrence.SEED_EXPONENT, ge=0, le=1)
    collaborative_neighbour_exponent: float = Field(default=cooccurrence.NEIGHBOUR_EXPONENT, ge=0, le=1)

    @property
    def use_gpu(self) -> bool:
        """Whether searches may go to a GPU (the towers' index follows the same setting)."""
        return self.faiss_device != "cpu"


class RetrievalSettings(GrpcServiceSettings, IndexSettings):
    """The serving process: index settings plus limits and query-time knobs."""

    max_top_k: int = Field(default=500, ge=1)
    # Queries (texts, tags, vectors or items) per Search request.
    max_queries: int = Field(default=64, ge=1)
    max_get_items: int = Field(default=1000, ge=1)
    # Seeds of the collaborative route when the request leaves recent_items at 0.
    collaborative_recent_items: int = Field(default=20, ge=1)
    max_recent_items: int = Field(default=200, ge=1)
    # Items a Collaborative request may give as seeds (a held-out history); all of them are left out.
    max_seed_items: int = Field(default=2000, ge=1)
    # Weight of the r-th most recent seed is recency_decay**r.
    recency_decay: float = Field(default=0.85, gt=0, le=1)
    # Embed the tag's rationale with its text.
    tag_include_rationale: bool = False
    # Query embeddings kept in memory (tags and texts repeat across users).
    text_cache_size: int = Field(default=10_000, ge=0)
    # Threads FAISS may use per search; 1 is fastest for single queries on a small machine.
    faiss_threads: int = Field(default=1, ge=1)
    # Build the index at start-up when it is missing or stale; off by default so a bad deploy fails loudly.
    build_on_start: bool = False
    # A user's behaviour read from Redis gets this long at most (and at most half of what the caller has
    # left); past it the answer is made without the behaviour and says so.
    redis_deadline_s: float = Field(default=0.05, gt=0)
    # The towers artefacts' folder (`make train-retrieval` writes there, LATEST names the served one); unset
    # or empty, the collaborative route is co-occurrence.
    towers_dir: Path | None = None
    # How often LATEST is checked for a new artefact (picked up without a restart).
    towers_refresh_s: float = Field(default=5.0, gt=0)
    # The artefact store (recgpt_domain.artefact_store; a folder, s3://, gs://): when set, the towers version
    # it names newest is fetched into `towers_dir` (then a local cache) before each check of LATEST.
    artefact_store_url: str = ""
    # With an artefact, the tag route maps tags through the tag tower into the learned item space.
    towers_tag_route: bool = True
    # Serve an artefact's ranker where it has one (false: its weighted fusion, about 1.1 ms less CPU a
    # recommendation here, for R@10 about 0.01 lower on unseen Amazon users).
    towers_ranker: bool = True
    # torch threads for the user and tag towers.
    towers_threads: int = Field(default=1, ge=1)
    # What computes user vectors: the user towers in numpy (about 5x faster for one user, checked against
    # torch at load) or torch as trained; both give the same vectors within float rounding.
    towers_runtime: TowersRuntime = "numpy"
    # Users whose last user vector is kept in process, until their behaviour changes (about 1 KB each at
    # 192 dimensions); 0 keeps none.
    towers_user_cache_size: int = Field(default=50_000, ge=0)
    # Users whose last UserRoutes answer with an artefact (the ranked or learned route and the content route,
    # top k each; about 2 KB a user at the gateway's top 30, 5 KB at top 100) is kept in process until their
    # behaviour, what is left out or the request changes; 0 keeps none. A repeat (the next page, a refresh)
    # then costs one behaviour read.
    towers_routes_cache_size: int = Field(default=20_000, ge=0)
