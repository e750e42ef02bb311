"""`recgpt-tags`: serve the tag-prediction gRPC service until SIGTERM."""

from __future__ import annotations

import logging
import time

from recgpt.tags.v1 import tags_pb2_grpc
from recgpt_domain.catalogue import iter_histories
from recgpt_domain.category_map import CachedEncoder, CategoryMapper
from recgpt_domain.tag_ranking import Candidates
from recgpt_serving import agent_runner, service_names
from recgpt_serving.agent_runner import AgentDeps, Registration
from recgpt_serving.embedding.runtime import load_bundled
from tags.servicer import TagsServicer
from tags.settings import TagsSettings

log = logging.getLogger(__name__)


def build(settings: TagsSettings, deps: AgentDeps) -> Registration:
    """Loads the embedder and embeds the catalogue's categories (seconds; runs in a thread)."""
    started = time.perf_counter()
    embedder = load_bundled(settings.embedding_batch_size, settings.embedding_device)
    encoder = CachedEncoder(embedder, settings.embedding_cache_size)
    mapper = CategoryMapper(encoder, deps.items.values(), settings.category_text)
    if not len(mapper):
        raise RuntimeError(f"the catalogue in {settings.catalogue_dir} has no categories to map tags to")
    log.info(
        "categories embedded",
        extra={"categories": len(mapper), "seconds": round(time.perf_counter() - started, 1)},
    )
    candidates = None
    if settings.tag_mode in ("rank", "choose"):
        # The histories the platform holds (the catalogue it serves: held-out items are not in it).
        # RecGPT-V2's experts and arbiter choose among the same categories: they answer in these modes only.
        candidates = Candidates.count(iter_histories(settings.catalogue_dir), deps.items)
        log.info(
            "tag candidates counted",
            extra={
                "users": candidates.transitions.users,
                "transitions": candidates.transitions.transitions,
                "named_categories": len(candidates.names),
            },
        )
    return registration(settings, deps, mapper, candidates)


def registration(
    settings: TagsSettings, deps: AgentDeps, mapper: CategoryMapper, candidates: Candidates | None = None
) -> Registration:
    return Registration(
        servicer=TagsServicer(settings, deps, mapper, candidates=candidates),
        add_to_server=tags_pb2_grpc.add_TagsServiceServicer_to_server,
        full_service_name=service_names.TAGS,
    )


def main() -> None:
    agent_runner.main("tags", TagsSettings, build)


if __name__ == "__main__":
    main()
