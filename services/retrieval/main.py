"""`recgpt-retrieval` / `python -m retrieval`: serve the retrieval gRPC service until SIGTERM."""

from __future__ import annotations

import asyncio
import logging
import sys

from pydantic import ValidationError

from recgpt_domain.behaviour_store import BehaviourStore
from recgpt_domain.redis_connection import connect
from recgpt_serving import logs, metrics
from recgpt_serving.embedding.runtime import load_bundled
from retrieval import index_store
from retrieval.server import RetrievalServer
from retrieval.settings import RetrievalSettings

log = logging.getLogger(__name__)


async def serve(settings: RetrievalSettings) -> None:
    if not settings.build_on_start:
        index_store.read_manifest(settings.index_dir)  # fail in milliseconds, not after the model loads
    client = connect(settings.redis_url)
    server = RetrievalServer(settings, BehaviourStore(client, settings.redis_prefix))
    try:
        await server.start()
        embedder = await asyncio.to_thread(
            load_bundled, settings.embedding_batch_size, settings.embedding_device
        )
        await server.load(embedder)
        await server.grpc.run_until_signalled(settings.stop_grace_s, settings.drain_s)
    finally:
        await server.stop(0)
        await client.aclose()


def main() -> None:
    try:
        settings = RetrievalSettings()
    except ValidationError as error:
        sys.exit(f"recgpt-retrieval: bad or missing settings (RECGPT_*, REDIS_URL):\n{error}")
    logs.configure("retrieval", settings.log_level)
    metrics.serve(settings.metrics_port, settings.bind_host)
    try:
        asyncio.run(serve(settings))
    except Exception:
        log.exception("retrieval service failed")
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
