"""The retrieval service in-process on port 0, over a real gRPC channel, with a real Redis."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import grpc
import pytest
import redis.asyncio as aioredis
from grpc_health.v1 import health_pb2
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from recgpt.common.v1 import common_pb2
from recgpt.retrieval.v1 import retrieval_pb2, retrieval_pb2_grpc
from recgpt_domain.behaviour_store import BehaviourStore
from recgpt_domain.catalogue import BEHAVIOUR_FILE, Interaction, fingerprint, iter_histories
from recgpt_domain.embedder import Embedder
from recgpt_domain.preferences import Change, Constraint, Preferences, PreferenceStore
from recgpt_tools import redis_server
from retrieval.server import RetrievalServer
from retrieval.servicer import SERVICE_NAME
from retrieval.settings import IndexSettings
from tests.retrieval.catalogue_folder import ITEMS
from tests.retrieval.running import Running, ids, retrieval_settings

TITLES = {item.item_id: item.title for item in ITEMS}


@pytest.fixture
async def started(
    small_index: IndexSettings, redis_url: str, redis_prefix: str, redis_client: aioredis.Redis
) -> AsyncIterator[Running]:
    """Started but not loaded: health is NOT_SERVING."""
    settings = retrieval_settings(small_index, redis_url, redis_prefix)
    store = BehaviourStore(redis_client, redis_prefix)
    server = RetrievalServer(settings, store)
    await server.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{server.port}")
    try:
        yield Running(
            server,
            channel,
            retrieval_pb2_grpc.RetrievalServiceStub(channel),  # type: ignore[no-untyped-call]
            store,
        )
    finally:
        await channel.close()
        await server.stop(0)


@pytest.fixture
async def service(started: Running, embedder: Embedder) -> Running:
    await started.server.load(embedder)
    return started


async def expect_invalid(call: object, fragment: str) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call  # type: ignore[misc]
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert fragment in (caught.value.details() or "")


async def remember(store: BehaviourStore, user_id: str, items: Sequence[str]) -> None:
    await store.append(user_id, [Interaction(item_id=item, timestamp=2_000) for item in items])


def texts(*values: str, top_k: int = 3, **fields: Any) -> retrieval_pb2.SearchRequest:
    return retrieval_pb2.SearchRequest(texts=retrieval_pb2.TextQueries(texts=values), top_k=top_k, **fields)


async def test_health_is_not_serving_until_the_index_is_loaded(started: Running, embedder: Embedder) -> None:
    assert await started.health() == health_pb2.HealthCheckResponse.NOT_SERVING
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await started.stub.GetIndexInfo(retrieval_pb2.GetIndexInfoRequest())
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    await started.server.load(embedder)
    assert await started.health() == health_pb2.HealthCheckResponse.SERVING


async def test_reflection_lists_the_service(service: Running) -> None:
    stub = reflection_pb2_grpc.ServerReflectionStub(service.channel)
    request = reflection_pb2.ServerReflectionRequest(list_services="")
    async for reply in stub.ServerReflectionInfo(iter([request])):
        names = {entry.name for entry in reply.list_services_response.service}
        assert SERVICE_NAME in names
        break


async def test_text_search_finds_the_obvious_item_first_with_full_items(service: Running) -> None:
    reply = await service.stub.Search(texts("a microscope to look at cells", top_k=4))
    first = reply.items[0]
    assert first.item.item_id in {"m1", "m2"}
    assert first.item.title == TITLES[first.item.item_id]
    assert first.item.brand
    assert list(first.item.category_path)[-1] == "Microscopes"
    assert {scored.route for scored in reply.items} == {"text"}
    scores = [scored.score for scored in reply.items]
    assert scores == sorted(scores, reverse=True)
    assert len(set(ids(reply.items))) == len(reply.items) == 4

    glue = await service.stub.Search(texts("strong glue", top_k=2))
    assert set(ids(glue.items)) == {"g1", "g2"}


async def test_several_texts_merge_without_duplicates(service: Running) -> None:
    reply = await service.stub.Search(texts("microscope", "digital microscope", "beaker", top_k=6))
    found = ids(reply.items)
    assert len(found) == len(set(found)) == 6
    assert {"m1", "m2", "b1", "b2"} <= set(found)


async def test_tag_search_names_the_tag_and_interest(service: Running) -> None:
    tags = [
        common_pb2.Tag(tag="safety goggles", interest="lab safety", rationale="eye protection"),
        common_pb2.Tag(tag="sanding roll", interest="woodworking"),
    ]
    reply = await service.stub.Search(
        retrieval_pb2.SearchRequest(tags=retrieval_pb2.TagQueries(tags=tags), top_k=4)
    )
    by_id = {scored.item.item_id: scored for scored in reply.items}
    assert by_id["p2"].tag == "safety goggles"
    assert by_id["p2"].interest == "lab safety"
    assert by_id["s1"].tag == "sanding roll"
    assert by_id["s1"].interest == "woodworking"
    assert {scored.route for scored in reply.items} == {"tag"}


async def test_per_query_top_k_caps_each_tag_and_keeps_labels(service: Running) -> None:
    tags = [
        common_pb2.Tag(tag="microscope", interest="biology"),
        common_pb2.Tag(tag="digital microscope camera", interest="biology"),
        common_pb2.Tag(tag="safety goggles", interest="lab safety"),
    ]
    request = retrieval_pb2.SearchRequest(
        tags=retrieval_pb2.TagQueries(tags=tags), top_k=6, per_query_top_k=1
    )
    reply = await service.stub.Search(request)
    found = ids(reply.items)
    assert len(found) == len(set(found)) <= 3
    by_tag: dict[str, int] = {}
    for scored in reply.items:
        by_tag[scored.tag] = by_tag.get(scored.tag, 0) + 1
    assert max(by_tag.values()) == 1
    by_id = {scored.item.item_id: scored for scored in reply.items}
    assert by_id["p2"].tag == "safety goggles"
    assert by_id["p2"].interest == "lab safety"
    assert {"m1", "m2"} & set(found)
    scores = [scored.score for scored in reply.items]
    assert scores == sorted(scores, reverse=True)

    # Uncapped, the two microscope tags bring both microscopes and more from their neighbourhood.
    request.per_query_top_k = 0
    request.top_k = 3
    uncapped = await service.stub.Search(request)
    assert len(uncapped.items) == 3
    request.per_query_top_k = -1
    await expect_invalid(service.stub.Search(request), "per_query_top_k")


async def test_per_query_top_k_on_one_text_is_a_smaller_page(service: Running) -> None:
    reply = await service.stub.Search(texts("microscope", top_k=5, per_query_top_k=2))
    assert set(ids(reply.items)) == {"m1", "m2"}


async def test_vector_search_and_its_dimension_check(service: Running, embedder: Embedder) -> None:
    vector = embedder.encode(["infrared thermometer"])[0] * 3.0  # any length: it is normalised
    reply = await service.stub.Search(
        retrieval_pb2.SearchRequest(
            vectors=retrieval_pb2.VectorQueries(vectors=[retrieval_pb2.Vector(values=vector.tolist())]),
            top_k=1,
        )
    )
    assert ids(reply.items) == ["t2"]
    assert reply.items[0].route == "vector"
    assert reply.items[0].score <= 1.0001
    await expect_invalid(
        service.stub.Search(
            retrieval_pb2.SearchRequest(
                vectors=retrieval_pb2.VectorQueries(vectors=[retrieval_pb2.Vector(values=[0.1] * 10)]),
                top_k=1,
            )
        ),
        "dimension 10",
    )


async def test_item_search_is_the_content_route_without_the_query_items(service: Running) -> None:
    reply = await service.stub.Search(
        retrieval_pb2.SearchRequest(items=retrieval_pb2.ItemQueries(item_ids=["m1", "unknown"]), top_k=3)
    )
    assert "m1" not in ids(reply.items)
    assert ids(reply.items)[0] == "m2"
    assert {scored.route for scored in reply.items} == {"content"}
    nothing = await service.stub.Search(
        retrieval_pb2.SearchRequest(items=retrieval_pb2.ItemQueries(item_ids=["nope"]), top_k=3)
    )
    assert list(nothing.items) == []


async def test_filters_by_category_and_brand(service: Running) -> None:
    by_category = await service.stub.Search(
        texts(
            "microscope",
            top_k=5,
            filter=retrieval_pb2.AttributeFilter(categories=["beakers"]),
        )
    )
    assert set(ids(by_category.items)) == {"b1", "b2"}
    by_brand = await service.stub.Search(
        texts("glue", top_k=5, filter=retrieval_pb2.AttributeFilter(brands=["3M"]))
    )
    assert set(ids(by_brand.items)) == {"s2", "p2"}
    without = await service.stub.Search(
        texts("glue", top_k=3, filter=retrieval_pb2.AttributeFilter(exclude_brands=["gorilla"]))
    )
    assert not {"g1", "g2"} & set(ids(without.items))
    assert len(without.items) == 3


async def test_seen_items_from_redis_and_listed_items_are_excluded(service: Running) -> None:
    await remember(service.store, "alice", ["m1"])
    reply = await service.stub.Search(
        texts("microscope", top_k=3, exclude_seen_of_user="alice", exclude_item_ids=["m2"])
    )
    assert not {"m1", "m2"} & set(ids(reply.items))
    assert len(reply.items) == 3
    stranger = await service.stub.Search(texts("microscope", top_k=2, exclude_seen_of_user="bob"))
    assert set(ids(stranger.items)) == {"m1", "m2"}


async def test_collaborative_ranks_co_occurring_items_and_excludes_seen(service: Running) -> None:
    await remember(service.store, "carol", ["t2", "m1"])  # m1 most recent
    reply = await service.stub.Collaborative(retrieval_pb2.CollaborativeRequest(user_id="carol", top_k=4))
    assert not reply.cold_start
    found = ids(reply.items)
    assert found[0] == "b1"  # right after m1 in three users' sequences
    assert reply.items[0].route == "collaborative"
    assert not {"t2", "m1"} & set(found)
    assert len(found) == len(set(found)) == 4
    filtered = await service.stub.Collaborative(
        retrieval_pb2.CollaborativeRequest(
            user_id="carol",
            top_k=3,
            filter=retrieval_pb2.AttributeFilter(exclude_categories=["Beakers"]),
            exclude_item_ids=["s1"],
        )
    )
    assert not {"b1", "b2", "s1", "t2", "m1"} & set(ids(filtered.items))


async def test_given_seeds_replace_the_users_log(service: Running) -> None:
    # gina has seen b1 in Redis; with seeds given, only the seeds are left out, so b1 comes back first.
    await remember(service.store, "gina", ["b1", "g1"])
    request = retrieval_pb2.CollaborativeRequest(user_id="gina", top_k=3, seed_item_ids=["m1"])
    reply = await service.stub.Collaborative(request)
    assert not reply.cold_start
    assert ids(reply.items)[0] == "b1"
    assert "m1" not in ids(reply.items)

    # No user at all, seeds most recent first: each seed's next item comes back, m1's b1 (after it for
    # three users) ahead of m2's b2 (one user) although m2 is the newer seed.
    anonymous = await service.stub.Collaborative(
        retrieval_pb2.CollaborativeRequest(top_k=4, seed_item_ids=["m2", "m1"], exclude_item_ids=["s1"])
    )
    found = ids(anonymous.items)
    assert found[:2] == ["b1", "b2"]
    assert not {"m1", "m2", "s1"} & set(found)

    # Only the first recent_items known seeds count; every given seed is still left out.
    limited = await service.stub.Collaborative(
        retrieval_pb2.CollaborativeRequest(top_k=4, recent_items=1, seed_item_ids=["nope", "m1", "m2"])
    )
    assert ids(limited.items)[0] == "b1"
    assert not {"m1", "m2"} & set(ids(limited.items))


async def test_unknown_seeds_are_a_cold_start_and_too_many_are_refused(service: Running) -> None:
    reply = await service.stub.Collaborative(
        retrieval_pb2.CollaborativeRequest(top_k=3, seed_item_ids=["nope", "nada"])
    )
    assert reply.cold_start
    assert {scored.route for scored in reply.items} == {"popular"}
    await expect_invalid(
        service.stub.Collaborative(
            retrieval_pb2.CollaborativeRequest(top_k=3, seed_item_ids=[f"x{i}" for i in range(2001)])
        ),
        "too many seed_item_ids",
    )


async def test_recent_items_weigh_more_than_older_ones(service: Running) -> None:
    # m2 and t1, each bought by one user, lead to b2 and to b1 with equal weights: the more recent decides.
    await remember(service.store, "dave", ["t1", "m2"])
    await remember(service.store, "frank", ["m2", "t1"])
    request = retrieval_pb2.CollaborativeRequest(top_k=2, recent_items=2)
    request.user_id = "dave"
    assert ids((await service.stub.Collaborative(request)).items)[0] == "b2"
    request.user_id = "frank"
    assert ids((await service.stub.Collaborative(request)).items)[0] == "b1"


async def test_cold_start_falls_back_to_popular_items(service: Running) -> None:
    reply = await service.stub.Collaborative(retrieval_pb2.CollaborativeRequest(user_id="nobody", top_k=3))
    assert reply.cold_start
    assert ids(reply.items)[0] == "s1"  # the most interactions in the behaviour log
    assert {scored.route for scored in reply.items} == {"popular"}
    scores = [scored.score for scored in reply.items]
    assert scores == sorted(scores, reverse=True)


async def test_sparse_neighbours_are_topped_up_with_popular_items(service: Running) -> None:
    await remember(service.store, "erin", ["t2"])  # t2 co-occurs only with s1
    reply = await service.stub.Collaborative(retrieval_pb2.CollaborativeRequest(user_id="erin", top_k=5))
    assert not reply.cold_start
    assert ids(reply.items)[0] == "s1"
    assert reply.items[0].route == "collaborative"
    assert {scored.route for scored in reply.items[1:]} == {"popular"}
    assert len(set(ids(reply.items))) == 5
    assert "t2" not in ids(reply.items)


async def test_bad_requests_say_what_is_wrong(service: Running) -> None:
    await expect_invalid(service.stub.Search(texts("glue", top_k=0)), "top_k must be between 1 and 50")
    await expect_invalid(service.stub.Search(texts("glue", top_k=51)), "top_k")
    await expect_invalid(service.stub.Search(retrieval_pb2.SearchRequest(top_k=3)), "empty query")
    await expect_invalid(service.stub.Search(texts(top_k=3)), "empty query")
    await expect_invalid(service.stub.Search(texts("glue", "  ", top_k=3)), "texts[1] is empty")
    await expect_invalid(service.stub.Search(texts(*["x"] * 9, top_k=3)), "too many texts")
    await expect_invalid(
        service.stub.Collaborative(retrieval_pb2.CollaborativeRequest(user_id="", top_k=3)),
        "user_id",
    )
    await expect_invalid(
        service.stub.Collaborative(retrieval_pb2.CollaborativeRequest(user_id="u", top_k=3, recent_items=-1)),
        "recent_items",
    )


async def test_get_items_in_request_order_and_index_info(
    service: Running, small_index: IndexSettings
) -> None:
    reply = await service.stub.GetItems(retrieval_pb2.GetItemsRequest(item_ids=["g2", "nope", "m1"]))
    assert [item.item_id for item in reply.items] == ["g2", "m1"]
    assert reply.items[0].title == TITLES["g2"]
    info = await service.stub.GetIndexInfo(retrieval_pb2.GetIndexInfoRequest())
    assert (info.dimension, info.item_count, info.index_type) == (384, len(ITEMS), "flat")
    assert info.model.endswith("all-MiniLM-L6-v2")
    assert info.built_at_unix > 0
    assert len(info.catalogue_fingerprint) == 64
    # The co-occurrence the route loaded was built from the catalogue's behaviour log.
    behaviour = small_index.catalogue_dir / BEHAVIOUR_FILE
    histories = list(iter_histories(small_index.catalogue_dir))
    assert info.cooccurrence_behaviour_fingerprint == fingerprint(behaviour)
    assert info.cooccurrence_users == len(histories) > 0
    assert info.cooccurrence_interactions == sum(len(h.interactions) for h in histories)


async def test_popular_is_the_most_popular_items_for_no_user(service: Running) -> None:
    reply = await service.stub.Popular(retrieval_pb2.PopularRequest(top_k=3))
    assert ids(reply.items)[0] == "s1"  # the most interactions in the behaviour log
    assert len(set(ids(reply.items))) == 3
    assert {scored.route for scored in reply.items} == {"popular"}
    filtered = await service.stub.Popular(
        retrieval_pb2.PopularRequest(top_k=2, filter=retrieval_pb2.AttributeFilter(brands=["Gorilla"]))
    )
    assert set(ids(filtered.items)) == {"g1", "g2"}
    await expect_invalid(service.stub.Popular(retrieval_pb2.PopularRequest(top_k=0)), "top_k")


@asynccontextmanager
async def hung_redis() -> AsyncIterator[str]:
    """A server that accepts connections and never answers: Redis stopped mid-flight (SIGSTOP)."""
    connections: list[asyncio.StreamWriter] = []

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(writer)

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        for writer in connections:
            writer.close()
        server.close()
        await server.wait_closed()


@asynccontextmanager
async def serving_with_redis(
    url: str, small_index: IndexSettings, redis_url: str, embedder: Embedder
) -> AsyncIterator[retrieval_pb2_grpc.RetrievalServiceStub]:
    client = aioredis.Redis.from_url(url)
    server = RetrievalServer(
        retrieval_settings(small_index, redis_url, "unused"), BehaviourStore(client, "unused")
    )
    await server.start()
    await server.load(embedder)
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            yield retrieval_pb2_grpc.RetrievalServiceStub(channel)  # type: ignore[no-untyped-call]
    finally:
        await server.stop(0)
        await client.aclose()


@pytest.mark.parametrize("redis_state", ["down", "hung"])
async def test_without_redis_answers_go_on_without_the_users_behaviour(
    redis_state: str, small_index: IndexSettings, redis_url: str, embedder: Embedder
) -> None:
    async with contextlib.AsyncExitStack() as stack:
        if redis_state == "down":
            url = f"redis://127.0.0.1:{redis_server.free_port()}/0"
        else:
            url = await stack.enter_async_context(hung_redis())
        stub = await stack.enter_async_context(serving_with_redis(url, small_index, redis_url, embedder))

        # A deadline like the gateway's: the behaviour read gives up in time for the answer.
        reply = await stub.Collaborative(retrieval_pb2.CollaborativeRequest(user_id="u", top_k=3), timeout=5)
        assert list(reply.degraded) == [retrieval_pb2.DEGRADATION_USER_BEHAVIOUR]
        assert not reply.cold_start  # not known to be new: only unknown
        assert ids(reply.items)[0] == "s1"
        assert {scored.route for scored in reply.items} == {"popular"}

        searched = await stub.Search(texts("glue", top_k=1, exclude_seen_of_user="u"), timeout=5)
        assert list(searched.degraded) == [retrieval_pb2.DEGRADATION_USER_BEHAVIOUR]
        assert len(searched.items) == 1
        # Without a user to look up, search does not need Redis at all, and says nothing is missing.
        plain = await stub.Search(texts("glue", top_k=1), timeout=5)
        assert (len(plain.items), list(plain.degraded)) == (1, [])
        # Nor does the collaborative route when the seeds are given.
        seeded = await stub.Collaborative(
            retrieval_pb2.CollaborativeRequest(user_id="u", top_k=2, seed_item_ids=["m1"]), timeout=5
        )
        assert (seeded.items[0].item.item_id, list(seeded.degraded)) == ("b1", [])


async def test_a_working_redis_leaves_nothing_degraded(service: Running) -> None:
    await remember(service.store, "fay", ["m1"])
    reply = await service.stub.Collaborative(retrieval_pb2.CollaborativeRequest(user_id="fay", top_k=3))
    assert list(reply.degraded) == []
    assert reply.items[0].route == "collaborative"


async def test_user_routes_answer_both_routes_from_one_behaviour_read(
    service: Running, monkeypatch: pytest.MonkeyPatch
) -> None:
    await remember(service.store, "carol", ["t2", "m1"])  # m1 most recent
    reads: list[str] = []
    read_both = service.store.recent_and_seen

    async def counted(user_id: str, recent: int) -> Any:
        reads.append(user_id)
        return await read_both(user_id, recent)

    for method in ("recent", "seen", "seen_among", "history"):
        monkeypatch.setattr(service.store, method, None)  # any other read would fail the call
    monkeypatch.setattr(service.store, "recent_and_seen", counted)

    reply = await service.stub.UserRoutes(retrieval_pb2.UserRoutesRequest(user_id="carol", top_k=4))

    assert reads == ["carol"]  # one pipelined read: the recent items and the seen set, one round trip
    monkeypatch.undo()
    assert (list(reply.recent_item_ids), reply.cold_start, list(reply.degraded)) == (["m1", "t2"], False, [])
    collaborative = await service.stub.Collaborative(
        retrieval_pb2.CollaborativeRequest(user_id="carol", top_k=4)
    )
    content = await service.stub.Search(
        retrieval_pb2.SearchRequest(
            items=retrieval_pb2.ItemQueries(item_ids=["m1", "t2"]), top_k=4, exclude_seen_of_user="carol"
        )
    )
    # The same answers as the two calls it replaces, seen items out of both.
    assert ids(reply.collaborative) == ids(collaborative.items)
    assert ids(reply.content) == ids(content.items)
    assert {scored.route for scored in reply.content} == {"content"}
    assert not {"t2", "m1"} & set(ids(reply.collaborative) + ids(reply.content))
    skipped = await service.stub.UserRoutes(
        retrieval_pb2.UserRoutesRequest(user_id="carol", top_k=4, skip_content=True)
    )
    assert (ids(skipped.collaborative), list(skipped.content)) == (ids(collaborative.items), [])


async def test_user_routes_for_a_new_user_are_popular_items_only(service: Running) -> None:
    reply = await service.stub.UserRoutes(retrieval_pb2.UserRoutesRequest(user_id="newcomer", top_k=3))
    assert reply.cold_start
    assert {scored.route for scored in reply.collaborative} == {"popular"}
    assert (list(reply.content), list(reply.recent_item_ids), list(reply.degraded)) == ([], [], [])
    await expect_invalid(service.stub.UserRoutes(retrieval_pb2.UserRoutesRequest(top_k=3)), "user_id")


async def test_user_routes_without_redis_say_the_behaviour_is_missing(
    small_index: IndexSettings, redis_url: str, embedder: Embedder
) -> None:
    url = f"redis://127.0.0.1:{redis_server.free_port()}/0"
    async with serving_with_redis(url, small_index, redis_url, embedder) as stub:
        reply = await stub.UserRoutes(retrieval_pb2.UserRoutesRequest(user_id="u", top_k=3), timeout=5)
    assert list(reply.degraded) == [retrieval_pb2.DEGRADATION_USER_BEHAVIOUR]
    assert not reply.cold_start
    assert {scored.route for scored in reply.collaborative} == {"popular"}
    assert list(reply.content) == []


async def test_user_routes_read_the_feed_preferences_in_the_same_round_trip(
    service: Running, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With `with_preferences` they come from the behaviour's pipelined read: no read of their own."""
    await remember(service.store, "dora", ["t2", "m1"])
    store = PreferenceStore(service.store.client, service.store.keys.prefix)
    wanted = Preferences(hard_negative=[Constraint(field="brand", value="Gorilla")], soft_positive=["glass"])
    await store.apply("dora", Change(added=wanted, removed=Preferences()), "no Gorilla, glass")
    round_trips: list[int] = []
    pipeline = service.store.client.pipeline

    def counted(*args: Any, **kwargs: Any) -> Any:
        round_trips.append(1)
        return pipeline(*args, **kwargs)

    monkeypatch.setattr(service.store.client, "pipeline", counted)
    monkeypatch.setattr(service.server.servicer.preferences, "read", None)  # a read of its own would fail

    reply = await service.stub.UserRoutes(
        retrieval_pb2.UserRoutesRequest(user_id="dora", top_k=4, with_preferences=True)
    )

    assert len(round_trips) == 1
    assert reply.preferences_read and reply.preferences_version == 1
    assert Preferences.from_pb(reply.preferences) == wanted
    assert list(reply.recent_item_ids) == ["m1", "t2"]
    plain = await service.stub.UserRoutes(retrieval_pb2.UserRoutesRequest(user_id="dora", top_k=4))
    assert not plain.preferences_read
