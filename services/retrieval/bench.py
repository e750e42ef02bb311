"""Quick latency check of each RPC against a real index and Redis: `python -m retrieval.bench`.

Not a test: it prints per-RPC wall latency over a real gRPC channel and the CPU the process spent
per call (client and server together, so an upper bound on the server's share). With `--towers`, it also
times UserRoutes with user vectors from torch, from numpy, and from numpy behind the cache, alternated, and,
when the artefact has a ranker, UserRoutes with it and with it set aside (the weighted fusion), alternated;
these comparisons compute every answer (the cache of each user's last UserRoutes answer off), and a last
one times UserRoutes with that cache on and off, alternated, over users who repeat.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import grpc

from recgpt.common.v1 import common_pb2
from recgpt.retrieval.v1 import retrieval_pb2, retrieval_pb2_grpc
from recgpt_domain.behaviour_store import BehaviourStore
from recgpt_domain.catalogue import iter_histories
from recgpt_domain.redis_connection import connect
from recgpt_serving.embedding.runtime import load_bundled
from retrieval.learned_route import LearnedRoute
from retrieval.server import RetrievalServer
from retrieval.settings import RetrievalSettings
from retrieval.user_cache import USER_VECTOR, UserCache
from retrieval.user_tower_runtime import NumpyUserTower, UserEncoder

Call = Callable[[int], Awaitable[Any]]


async def timed(call: Call, count: int) -> tuple[list[float], float]:
    """Wall seconds of each call and CPU seconds of all, after a few unmeasured calls."""
    for warm in range(min(20, count)):
        await call(warm)
    walls = []
    cpu_start = time.process_time()
    for number in range(count):
        start = time.perf_counter()
        await call(number)
        walls.append(time.perf_counter() - start)
    return walls, time.process_time() - cpu_start


def show(name: str, walls: list[float], cpu: float) -> None:
    walls = sorted(walls)
    p50 = statistics.median(walls) * 1000
    p99 = walls[int(0.99 * (len(walls) - 1))] * 1000
    print(f"{name:<34} p50 {p50:6.2f} ms  p99 {p99:6.2f} ms  cpu/call {cpu / len(walls) * 1000:5.2f} ms")


async def measure(name: str, call: Call, count: int) -> None:
    show(name, *await timed(call, count))


async def compare_user_vectors(route: LearnedRoute, fast: UserEncoder, user_routes: Call, count: int) -> None:
    """UserRoutes with each way of computing user vectors, in rounds of alternating order (A B C, C B A, ...)
    so that a neighbour's load falls on all of them alike; the served model is put back after."""
    served = route.current
    assert served is not None
    variants = {
        "torch, no cache (as before)": replace(served, encode=served.model.user_vectors, cache=None),
        "numpy, no cache": replace(served, encode=fast, cache=None),
        "numpy + cache (users repeat)": replace(served, encode=fast, cache=UserCache(USER_VECTOR, count)),
    }
    found: dict[str, tuple[list[float], float]] = {name: ([], 0.0) for name in variants}
    rounds = 4
    try:
        for number in range(rounds):
            names = list(variants) if number % 2 == 0 else list(reversed(variants))
            for name in names:
                route.current = variants[name]
                walls, cpu = await timed(user_routes, count // rounds)
                found[name] = (found[name][0] + walls, found[name][1] + cpu)
    finally:
        route.current = served
    print(f"UserRoutes top 50 by user vector, {rounds} alternating rounds:")
    for name, (walls, cpu) in found.items():
        show(f"  {name}", walls, cpu)


async def run(args: argparse.Namespace) -> None:
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    settings = RetrievalSettings(
        catalogue_dir=args.catalogue,
        index_dir=args.index,
        redis_url=args.redis_url,
        redis_prefix=prefix,
        port=0,
        metrics_port=0,
        towers_dir=args.towers,
    )
    client = connect(settings.redis_url)
    store = BehaviourStore(client, prefix)
    users = []
    for history in itertools.islice(iter_histories(args.catalogue), args.users):
        await store.append(history.user_id, history.interactions)
        users.append(history.user_id)
    item_ids = [
        [i.item_id for i in h.interactions][-5:]
        for h in itertools.islice(iter_histories(args.catalogue), args.users)
    ]
    server = RetrievalServer(settings, store)
    await server.start()
    started = time.perf_counter()
    retriever = await server.load(load_bundled())
    print(f"model + index loaded in {time.perf_counter() - started:.1f} s")
    tags = ["waterproof glue", "digital caliper", "lab safety goggles", "sanding discs"]
    await retriever.embed(tags)  # the gateway's tags repeat; the cache holds them
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{server.port}")
    stub = retrieval_pb2_grpc.RetrievalServiceStub(channel)  # type: ignore[no-untyped-call]

    def user(number: int) -> str:
        return users[number % len(users)]

    async def collaborative(number: int) -> Any:
        return await stub.Collaborative(retrieval_pb2.CollaborativeRequest(user_id=user(number), top_k=50))

    async def user_routes(number: int) -> Any:
        # What one recommendation asks of retrieval: both routes (and the preferences) in one call.
        return await stub.UserRoutes(
            retrieval_pb2.UserRoutesRequest(user_id=user(number), top_k=50, with_preferences=True)
        )

    async def content(number: int) -> Any:
        return await stub.Search(
            retrieval_pb2.SearchRequest(
                items=retrieval_pb2.ItemQueries(item_ids=item_ids[number % len(item_ids)]),
                top_k=50,
                exclude_seen_of_user=user(number),
            )
        )

    async def tag_search(number: int) -> Any:
        return await stub.Search(
            retrieval_pb2.SearchRequest(
                tags=retrieval_pb2.TagQueries(tags=[common_pb2.Tag(tag=t) for t in tags]),
                top_k=50,
                exclude_seen_of_user=user(number),
            )
        )

    async def filtered(number: int) -> Any:
        return await stub.Search(
            retrieval_pb2.SearchRequest(
                tags=retrieval_pb2.TagQueries(tags=[common_pb2.Tag(tag=tags[0])]),
                top_k=50,
                filter=retrieval_pb2.AttributeFilter(exclude_categories=["Tapes, Adhesives & Sealants"]),
            )
        )

    async def new_text(number: int) -> Any:
        text = f"cordless drill number {number} {uuid.uuid4().hex[:4]}"
        return await stub.Search(
            retrieval_pb2.SearchRequest(texts=retrieval_pb2.TextQueries(texts=[text]), top_k=50)
        )

    async def get_items(number: int) -> Any:
        return await stub.GetItems(retrieval_pb2.GetItemsRequest(item_ids=item_ids[number % len(item_ids)]))

    async def cooccurrence(number: int) -> Any:
        return await stub.Collaborative(
            retrieval_pb2.CollaborativeRequest(user_id=user(number), top_k=50, cooccurrence_only=True)
        )

    def keep_answers(size: int) -> None:
        """The servicer's cache of UserRoutes answers: `size` users (0 computes every answer)."""
        server.servicer.settings = settings.model_copy(update={"towers_routes_cache_size": size})

    keep_answers(0)
    route = server.servicer.learned
    served = route.current if route is not None else None
    if route is not None and served is not None:
        print(f"towers artefact {served.version} ({served.model.dimension}-d item vectors)")
        # Most recent first, as the behaviour log gives them.
        histories = [rows for rows in (retriever.table.rows_for(ids[::-1]) for ids in item_ids) if rows]
        vector = served.user_vector(histories[0])

        async def learned_search(number: int) -> Any:
            return served.search(vector, 50, None)

        # What the tower reads: the most recent max_len, oldest first.
        windows = [list(reversed(rows[: served.model.config.max_len])) for rows in histories]
        fast = NumpyUserTower(served.model)
        for name, encode in (("torch", served.model.user_vectors), ("numpy", fast)):

            async def user_vector(number: int, encode: UserEncoder = encode) -> Any:
                return encode([windows[number % len(windows)]])

            await measure(f"user vector ({name}, in process)", user_vector, args.requests)
        await measure("learned FAISS search top 50 (in process)", learned_search, args.requests)
        await compare_user_vectors(route, fast, user_routes, args.requests * 2)
    fusion = served.model.fusion if served is not None else None
    try:
        if served is not None and fusion is not None and fusion.ranker is not None:
            # The same artefact, its ranker set aside and back: what ranking the candidates costs.
            for label, ranker in (("with its ranker", fusion.ranker), ("ranker set aside", None)) * 2:
                served.model.fusion = fusion.model_copy(update={"ranker": ranker})
                await measure(f"UserRoutes top 50, {label}", user_routes, args.requests)
            served.model.fusion = fusion
        await measure("UserRoutes top 50 (one recommendation)", user_routes, args.requests)
        if served is not None:
            for label, size in (("answers kept", settings.towers_routes_cache_size), ("computed", 0)) * 2:
                keep_answers(size)
                await measure(f"UserRoutes top 50, {label} (users repeat)", user_routes, args.requests)
            keep_answers(settings.towers_routes_cache_size)
        await measure("Collaborative top 50", collaborative, args.requests)
        await measure("Collaborative co-occurrence top 50", cooccurrence, args.requests)
        await measure("Search items (content) top 50", content, args.requests)
        await measure("Search 4 tags (cached) top 50", tag_search, args.requests)
        await measure("Search 1 tag + filter top 50", filtered, args.requests)
        await measure("Search new text (encodes) top 50", new_text, min(args.requests, 100))
        await measure("GetItems 5", get_items, args.requests)
    finally:
        await channel.close()
        await server.stop(0)
        keys = [key async for key in client.scan_iter(match=f"{prefix}:*", count=1000)]
        if keys:
            await client.delete(*keys)
        await client.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m retrieval.bench", description=__doc__)
    parser.add_argument("--catalogue", type=Path, required=True)
    parser.add_argument("--index", type=Path, required=True)
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument(
        "--towers", type=Path, default=None, help="towers artefacts folder (LATEST is served)"
    )
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
