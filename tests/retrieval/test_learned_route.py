"""The learned route in the retrieval service: served from an artefact, swapped without a restart, refused
when it does not fit the catalogue (co-occurrence answers then), the tag route through the tag tower, and
towers fetched from an artefact store."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import grpc
import numpy as np
import pytest
import redis.asyncio as aioredis
import torch

from recgpt.common.v1 import common_pb2
from recgpt.retrieval.v1 import retrieval_pb2, retrieval_pb2_grpc
from recgpt_domain import artefact_store
from recgpt_domain.behaviour_store import BehaviourStore
from recgpt_domain.catalogue import Interaction
from recgpt_domain.embedder import Embedder
from recgpt_domain.towers import artefact
from recgpt_domain.towers.artefact import FusionSpread, FusionWeights
from recgpt_domain.towers.model import TagTower, TowerConfig, UserTower
from recgpt_domain.towers.ranker import FEATURES, Ranker, Trees
from recgpt_serving import metrics
from retrieval.server import RetrievalServer
from retrieval.settings import IndexSettings
from retrieval.user_cache import RESULTS, USER_ROUTES, USER_VECTOR
from tests.retrieval.catalogue_folder import ITEMS
from tests.retrieval.running import retrieval_settings

ITEM_IDS = [item.item_id for item in ITEMS]


def write_artefact(
    models: Path,
    item_ids: list[str],
    seed: int,
    beta: float = 0.3,
    cooccurrence: float = 0.0,
    ranker: Ranker | None = None,
) -> Path:
    """A randomly initialised one-member model: enough to check the serving path, not its quality."""
    torch.manual_seed(seed)
    config = TowerConfig(dim=8, max_len=5, heads=2)
    vectors = np.random.default_rng(seed).standard_normal((len(item_ids), 8)).astype(np.float32)
    member = {"user": UserTower(config).state_dict(), "tag": TagTower(config).state_dict()}
    fields = {
        "version": f"{artefact.new_version()}-{seed}",
        "created_at_unix": int(time.time()),
        "dataset": "small",
        "data_fingerprint": "test",
        "text_model": "test",
        "config": config,
        "training": {},
        "members": [artefact.MemberReport(seed=seed, epoch=1, epochs_run=1, seconds=0.0, validation={})],
        "validation": {},
        "validation_users": 0,
        "trained_users": 0,
        "skipped_users": 0,
        "training_seconds": 0.0,
        "fusion": FusionWeights(
            beta=beta,
            collaborative_weight=0.7,
            content_weight=0.3,
            cooccurrence_weight=cooccurrence,
            folds=2,
            spread={
                "baseline": FusionSpread(
                    choice="baseline=learned 0.7 cooc 0.0 content 0.3",
                    per_fold=[0.25, 0.35],
                    held_out=[0.2, 0.3],
                    held_out_choices=["a", "b"],
                )
            },
            ranker=ranker,
        ),
    }
    return artefact.write(models, fields, item_ids, vectors, {"members": [member]})


@contextlib.asynccontextmanager
async def serving_towers(
    small_index: IndexSettings,
    redis_url: str,
    redis_prefix: str,
    redis_client: aioredis.Redis,
    embedder: Embedder,
    models: Path,
    **overrides: object,
) -> AsyncIterator[retrieval_pb2_grpc.RetrievalServiceStub]:
    """A retrieval server reading towers from `models`, with settings `overrides`."""
    await asyncio.to_thread(models.mkdir)
    settings = retrieval_settings(
        small_index, redis_url, redis_prefix, towers_dir=models, towers_refresh_s=0.05, **overrides
    )
    server = RetrievalServer(settings, BehaviourStore(redis_client, redis_prefix))
    await server.start()
    await server.load(embedder)
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{server.port}")
    try:
        yield retrieval_pb2_grpc.RetrievalServiceStub(channel)  # type: ignore[no-untyped-call]
    finally:
        await channel.close()
        await server.stop(0)


ServeTowers = Callable[..., contextlib.AbstractAsyncContextManager[retrieval_pb2_grpc.RetrievalServiceStub]]


@pytest.fixture
def serve_towers(
    small_index: IndexSettings,
    redis_url: str,
    redis_prefix: str,
    redis_client: aioredis.Redis,
    embedder: Embedder,
) -> ServeTowers:
    """`serving_towers` bound to this test's index, Redis and embedder: give it the models folder."""
    return functools.partial(serving_towers, small_index, redis_url, redis_prefix, redis_client, embedder)


@pytest.fixture
async def stub_with_towers(
    serve_towers: ServeTowers, tmp_path: Path
) -> AsyncIterator[tuple[retrieval_pb2_grpc.RetrievalServiceStub, Path]]:
    models = tmp_path / "towers"
    async with serve_towers(models) as stub:
        yield stub, models


async def wait_for_version(stub: retrieval_pb2_grpc.RetrievalServiceStub, version: str) -> None:
    for _ in range(100):
        info = await stub.GetIndexInfo(retrieval_pb2.GetIndexInfoRequest())
        if info.towers_version == version:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"version {version!r} never served")


def collaborative(seeds: list[str], top_k: int = 4) -> retrieval_pb2.CollaborativeRequest:
    return retrieval_pb2.CollaborativeRequest(seed_item_ids=seeds, top_k=top_k)


async def test_without_an_artefact_co_occurrence_answers_then_a_new_one_serves_without_restart(
    stub_with_towers: tuple[retrieval_pb2_grpc.RetrievalServiceStub, Path],
) -> None:
    stub, models = stub_with_towers
    reply = await stub.Collaborative(collaborative(["m1", "g1"]))
    assert "learned" not in {scored.route for scored in reply.items}
    first = write_artefact(models, ITEM_IDS, seed=1)
    await wait_for_version(stub, artefact.read_manifest(first).version)
    reply = await stub.Collaborative(collaborative(["m1", "g1"]))
    assert {scored.route for scored in reply.items} == {"learned"}
    assert not {"m1", "g1"} & {scored.item.item_id for scored in reply.items}
    # Scored as the model's probabilities relative to its best item: 1 first, then falling, never 0.
    scores = [scored.score for scored in reply.items]
    assert scores[0] == pytest.approx(1.0) and scores == sorted(scores, reverse=True) and scores[-1] > 0
    forced = await stub.Collaborative(
        retrieval_pb2.CollaborativeRequest(seed_item_ids=["m1", "g1"], top_k=4, cooccurrence_only=True)
    )
    assert "learned" not in {scored.route for scored in forced.items}
    info = await stub.GetIndexInfo(retrieval_pb2.GetIndexInfoRequest())
    assert info.towers_fusion.beta == pytest.approx(0.3)
    # The cross-fitting's spread is served beside the weights, as the manifest holds it.
    assert info.towers_fusion_spread.folds == 2
    [baseline] = info.towers_fusion_spread.choices
    assert (baseline.name, baseline.choice) == ("baseline", "baseline=learned 0.7 cooc 0.0 content 0.3")
    assert list(baseline.per_fold) == pytest.approx([0.25, 0.35])
    assert (baseline.mean, baseline.std) == (pytest.approx(0.3), pytest.approx(0.05))
    assert list(baseline.held_out_choices) == ["a", "b"]
    second = write_artefact(models, ITEM_IDS, seed=2, beta=0.6)
    await wait_for_version(stub, artefact.read_manifest(second).version)


async def test_artefact_of_another_catalogue_is_refused_and_counted(
    stub_with_towers: tuple[retrieval_pb2_grpc.RetrievalServiceStub, Path],
) -> None:
    stub, models = stub_with_towers
    good = write_artefact(models, ITEM_IDS, seed=1)
    await wait_for_version(stub, artefact.read_manifest(good).version)
    failed_before = metrics.TOWERS_ARTEFACT_LOADS.labels("failed")._value.get()
    write_artefact(models, [*ITEM_IDS[:-1], "not-in-this-catalogue"], seed=3)
    for _ in range(100):
        if metrics.TOWERS_ARTEFACT_LOADS.labels("failed")._value.get() > failed_before:
            break
        await asyncio.sleep(0.05)
    assert metrics.TOWERS_ARTEFACT_LOADS.labels("failed")._value.get() > failed_before
    # The previous model keeps serving.
    await wait_for_version(stub, artefact.read_manifest(good).version)


async def test_unknown_seed_items_get_popular_items_not_an_error(
    stub_with_towers: tuple[retrieval_pb2_grpc.RetrievalServiceStub, Path],
) -> None:
    stub, models = stub_with_towers
    version = artefact.read_manifest(write_artefact(models, ITEM_IDS, seed=1)).version
    await wait_for_version(stub, version)
    reply = await stub.Collaborative(collaborative(["no-such-item"]))
    assert reply.cold_start and {scored.route for scored in reply.items} == {"popular"}


async def test_tag_route_goes_through_the_tag_tower(
    stub_with_towers: tuple[retrieval_pb2_grpc.RetrievalServiceStub, Path],
) -> None:
    stub, models = stub_with_towers
    version = artefact.read_manifest(write_artefact(models, ITEM_IDS, seed=1)).version
    await wait_for_version(stub, version)
    tags = [common_pb2.Tag(tag="digital microscope", interest="lab")]
    reply = await stub.Search(retrieval_pb2.SearchRequest(tags=retrieval_pb2.TagQueries(tags=tags), top_k=3))
    assert len(reply.items) == 3 and {scored.route for scored in reply.items} == {"tag"}
    assert {scored.tag for scored in reply.items} == {"digital microscope"}


async def test_the_baselines_one_call_serves_the_learned_route(
    stub_with_towers: tuple[retrieval_pb2_grpc.RetrievalServiceStub, Path],
    redis_client: aioredis.Redis,
    redis_prefix: str,
) -> None:
    """UserRoutes (the baseline's one call) ranks the collaborative route with the served model."""
    stub, models = stub_with_towers
    await BehaviourStore(redis_client, redis_prefix).append(
        "ada", [Interaction(item_id=item, timestamp=2_000 + i) for i, item in enumerate(["m1", "g1"])]
    )
    request = retrieval_pb2.UserRoutesRequest(user_id="ada", top_k=4)
    before = await stub.UserRoutes(request)
    assert "learned" not in {scored.route for scored in before.collaborative}
    assert not before.HasField("towers_fusion")  # co-occurrence answered: the gateway's own weights
    served = write_artefact(models, ITEM_IDS, seed=1)
    await wait_for_version(stub, artefact.read_manifest(served).version)

    after = await stub.UserRoutes(request)

    assert {scored.route for scored in after.collaborative} == {"learned"}
    # The weights the answering model chose on its validation slice travel with its answer.
    assert after.towers_fusion.beta == pytest.approx(0.3)
    assert after.towers_fusion.collaborative_weight == pytest.approx(0.7)
    assert not after.cooccurrence  # this artefact gives co-occurrence no weight: not computed

    weighed = write_artefact(models, ITEM_IDS, seed=2, cooccurrence=0.4)
    await wait_for_version(stub, artefact.read_manifest(weighed).version)
    both = await stub.UserRoutes(request)

    # Co-occurrence comes beside the learned route, under the same exclusions, with its weight.
    assert {scored.route for scored in both.collaborative} == {"learned"}
    assert both.cooccurrence and {s.route for s in both.cooccurrence} <= {"collaborative", "popular"}
    assert not {"m1", "g1"} & {scored.item.item_id for scored in both.cooccurrence}
    assert both.towers_fusion.cooccurrence_weight == pytest.approx(0.4)
    assert not {"m1", "g1"} & {scored.item.item_id for scored in after.collaborative}
    assert after.content and not {"m1", "g1"} & {scored.item.item_id for scored in after.content}


def most_popular_first() -> Ranker:
    """A one-split ranker: the popular route's first candidate scores high, every other candidate low."""
    stump = Trees(
        baseline=0.0,
        feature=[[FEATURES.index("popular_rank"), 0, 0]],
        threshold=[[0.5, 0.0, 0.0]],
        left=[[1, 0, 0]],
        right=[[2, 0, 0]],
        leaf=[[False, True, True]],
        value=[[0.0, 4.0, -4.0]],
    )
    return Ranker(trees=stump, beta=0.8)


async def test_an_artefacts_ranker_orders_the_routes_candidates(
    stub_with_towers: tuple[retrieval_pb2_grpc.RetrievalServiceStub, Path],
    redis_client: aioredis.Redis,
    redis_prefix: str,
) -> None:
    stub, models = stub_with_towers
    seen = ["m1", "g1"]
    await BehaviourStore(redis_client, redis_prefix).append(
        "ada", [Interaction(item_id=item, timestamp=2_000 + i) for i, item in enumerate(seen)]
    )
    served = write_artefact(models, ITEM_IDS, seed=1, ranker=most_popular_first())
    await wait_for_version(stub, artefact.read_manifest(served).version)
    ranked_before = metrics.COLLABORATIVE_ANSWERS.labels("ranked")._value.get()

    answer = await stub.UserRoutes(retrieval_pb2.UserRoutesRequest(user_id="ada", top_k=4))

    popular = await stub.Popular(retrieval_pb2.PopularRequest(top_k=len(ITEM_IDS)))
    first_popular = next(s.item.item_id for s in popular.items if s.item.item_id not in seen)
    assert answer.collaborative[0].item.item_id == first_popular
    assert len(answer.collaborative) == 4 and {s.route for s in answer.collaborative} == {"ranked"}
    assert not set(seen) & {scored.item.item_id for scored in answer.collaborative}
    scores = [scored.score for scored in answer.collaborative]
    assert scores == sorted(scores, reverse=True) and 0 < scores[-1] < scores[0] < 1
    # The ranked list is the baseline alone; recgpt-v1's beta over it is the ranker's own.
    fusion = answer.towers_fusion
    assert fusion.ranked and fusion.collaborative_weight == 1.0 and fusion.beta == pytest.approx(0.8)
    assert fusion.content_weight == 0.0 and fusion.cooccurrence_weight == 0.0 and not answer.cooccurrence
    assert metrics.COLLABORATIVE_ANSWERS.labels("ranked")._value.get() == ranked_before + 1
    info = await stub.GetIndexInfo(retrieval_pb2.GetIndexInfoRequest())
    assert info.towers_fusion == fusion


async def test_rankers_turned_off_serve_the_weighted_fusion(
    serve_towers: ServeTowers, redis_client: aioredis.Redis, redis_prefix: str, tmp_path: Path
) -> None:
    models = tmp_path / "towers"
    await BehaviourStore(redis_client, redis_prefix).append(
        "ada", [Interaction(item_id="m1", timestamp=2_000)]
    )
    async with serve_towers(models, towers_ranker=False) as stub:
        served = write_artefact(models, ITEM_IDS, seed=1, ranker=most_popular_first())
        await wait_for_version(stub, artefact.read_manifest(served).version)

        answer = await stub.UserRoutes(retrieval_pb2.UserRoutesRequest(user_id="ada", top_k=4))

        assert {scored.route for scored in answer.collaborative} == {"learned"}
        assert not answer.towers_fusion.ranked and answer.towers_fusion.collaborative_weight == pytest.approx(
            0.7
        )
        info = await stub.GetIndexInfo(retrieval_pb2.GetIndexInfoRequest())
        assert info.towers_fusion == answer.towers_fusion


def cache_lookups(cache: str) -> dict[str, float]:
    return {result: metrics.CACHE_REQUESTS.labels(cache, result)._value.get() for result in RESULTS}


async def serve_for(
    stub: retrieval_pb2_grpc.RetrievalServiceStub,
    models: Path,
    store: BehaviourStore,
    user: str,
    ranker: Ranker | None = None,
) -> None:
    """`user` with one interaction (m1), and a new artefact (with `ranker`) served."""
    await store.append(user, [Interaction(item_id="m1", timestamp=1_000)])
    served = write_artefact(models, ITEM_IDS, seed=1, ranker=ranker)
    await wait_for_version(stub, artefact.read_manifest(served).version)


async def test_a_users_vector_is_reused_until_their_behaviour_changes(
    stub_with_towers: tuple[retrieval_pb2_grpc.RetrievalServiceStub, Path],
    redis_client: aioredis.Redis,
    redis_prefix: str,
) -> None:
    stub, models = stub_with_towers
    store = BehaviourStore(redis_client, redis_prefix)
    await serve_for(stub, models, store, "bea")
    before = cache_lookups(USER_VECTOR)

    first = await stub.UserRoutes(retrieval_pb2.UserRoutesRequest(user_id="bea", top_k=4))
    # Another page size misses the answer cache; the vector, from the same behaviour, is reused.
    shorter = await stub.UserRoutes(retrieval_pb2.UserRoutesRequest(user_id="bea", top_k=3))

    assert [(s.item.item_id, s.score) for s in shorter.collaborative] == [
        (s.item.item_id, s.score) for s in first.collaborative[:3]
    ]
    after = cache_lookups(USER_VECTOR)
    assert after["miss"] - before["miss"] == 1 and after["hit"] - before["hit"] == 1

    await store.append("bea", [Interaction(item_id="g1", timestamp=2_000)])
    moved = await stub.UserRoutes(retrieval_pb2.UserRoutesRequest(user_id="bea", top_k=4))

    assert cache_lookups(USER_VECTOR)["stale"] - before["stale"] == 1
    # The answer is the new behaviour's: as the same seeds given (never cached) rank them.
    given = await stub.Collaborative(collaborative(["g1", "m1"]))
    assert [s.item.item_id for s in moved.collaborative] == [s.item.item_id for s in given.items]
    assert [s.score for s in moved.collaborative] == pytest.approx([s.score for s in given.items])


def answer_of(reply: retrieval_pb2.UserRoutesResponse) -> list[tuple[str, str, float]]:
    routes = [*reply.collaborative, *reply.content]
    return [(s.route, s.item.item_id, s.score) for s in routes]


async def test_a_users_ranked_routes_are_kept_until_what_they_come_from_changes(
    stub_with_towers: tuple[retrieval_pb2_grpc.RetrievalServiceStub, Path],
    redis_client: aioredis.Redis,
    redis_prefix: str,
) -> None:
    stub, models = stub_with_towers
    store = BehaviourStore(redis_client, redis_prefix)
    await serve_for(stub, models, store, "cy", most_popular_first())
    request = retrieval_pb2.UserRoutesRequest(user_id="cy", top_k=4)
    before = cache_lookups(USER_ROUTES)
    ranked_before = metrics.COLLABORATIVE_ANSWERS.labels("ranked")._value.get()

    first = await stub.UserRoutes(request)
    again = await stub.UserRoutes(request)

    assert answer_of(again) == answer_of(first) and again.towers_fusion == first.towers_fusion
    assert {s.route for s in again.collaborative} == {"ranked"} and again.content
    assert list(again.recent_item_ids) == ["m1"]
    lookups = cache_lookups(USER_ROUTES)
    assert lookups["miss"] - before["miss"] == 1 and lookups["hit"] - before["hit"] == 1
    # A kept answer is still counted as the route it is.
    assert metrics.COLLABORATIVE_ANSWERS.labels("ranked")._value.get() == ranked_before + 2

    # What the caller leaves out is part of what the answer comes from.
    left_out = first.collaborative[0].item.item_id
    excluding = await stub.UserRoutes(
        retrieval_pb2.UserRoutesRequest(user_id="cy", top_k=4, exclude_item_ids=[left_out])
    )
    assert left_out not in {item for _, item, _ in answer_of(excluding)}

    # So is the user's behaviour: a new interaction is left out of the next answer.
    await store.append("cy", [Interaction(item_id=left_out, timestamp=2_000)])
    moved = await stub.UserRoutes(request)
    assert left_out not in {item for _, item, _ in answer_of(moved)}
    assert list(moved.recent_item_ids) == [left_out, "m1"]
    assert cache_lookups(USER_ROUTES)["stale"] - before["stale"] == 2

    # A new artefact starts with no answers kept.
    newer = write_artefact(models, ITEM_IDS, seed=2, ranker=most_popular_first())
    await wait_for_version(stub, artefact.read_manifest(newer).version)
    await stub.UserRoutes(request)
    assert cache_lookups(USER_ROUTES)["miss"] - before["miss"] == 2


async def test_without_an_artefact_no_routes_are_kept(
    stub_with_towers: tuple[retrieval_pb2_grpc.RetrievalServiceStub, Path],
    redis_client: aioredis.Redis,
    redis_prefix: str,
) -> None:
    stub, _ = stub_with_towers
    await BehaviourStore(redis_client, redis_prefix).append("dee", [Interaction(item_id="m1", timestamp=1)])
    before = cache_lookups(USER_ROUTES)

    for _ in range(2):
        reply = await stub.UserRoutes(retrieval_pb2.UserRoutesRequest(user_id="dee", top_k=4))
        assert {s.route for s in reply.collaborative} <= {"collaborative", "popular"}

    assert cache_lookups(USER_ROUTES) == before


async def test_towers_published_to_the_store_are_fetched_and_served(
    small_index: IndexSettings,
    redis_url: str,
    redis_prefix: str,
    redis_client: aioredis.Redis,
    embedder: Embedder,
    tmp_path: Path,
) -> None:
    store_url = f"memory://retrieval-store-{uuid.uuid4().hex}"
    store = artefact_store.towers(store_url, artefact.LATEST_FILE)
    trained = tmp_path / "trained"
    store.publish(write_artefact(trained, ITEM_IDS, seed=1))
    cache = tmp_path / "towers-cache"
    settings = retrieval_settings(
        small_index,
        redis_url,
        redis_prefix,
        towers_dir=cache,
        towers_refresh_s=0.05,
        artefact_store_url=store_url,
    )
    server = RetrievalServer(settings, BehaviourStore(redis_client, redis_prefix))
    await server.start()
    await server.load(embedder)
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            stub = retrieval_pb2_grpc.RetrievalServiceStub(channel)  # type: ignore[no-untyped-call]
            first = store.latest()
            assert first is not None
            await wait_for_version(stub, artefact.read_manifest(trained / first).version)
            reply = await stub.Collaborative(collaborative(["m1", "g1"]))
            assert {scored.route for scored in reply.items} == {"learned"}

            second = write_artefact(trained, ITEM_IDS, seed=2)
            store.publish(second)
            await wait_for_version(stub, artefact.read_manifest(second).version)
        assert sorted(path.name for path in cache.glob(f"{artefact.PREFIX}*")) == sorted([first, second.name])
    finally:
        await server.stop(0)
