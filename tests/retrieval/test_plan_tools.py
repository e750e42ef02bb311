"""RecBot's PlanTools over the real retrieval service (in-process, real gRPC, real Redis, real FAISS)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import pytest
import redis.asyncio as aioredis

from recgpt.common.v1 import common_pb2
from recgpt.retrieval.v1 import retrieval_pb2, retrieval_pb2_grpc
from recgpt_domain.behaviour_store import BehaviourStore
from recgpt_domain.catalogue import Interaction
from recgpt_domain.embedder import Embedder
from recgpt_domain.preferences import Constraint, Preferences
from retrieval.server import RetrievalServer
from retrieval.settings import IndexSettings
from retrieval.tools import registry
from retrieval.tools.base import PlanState
from tests.retrieval.catalogue_folder import ITEMS, LAB
from tests.retrieval.running import Running, ids, retrieval_settings

BY_ID = {item.item_id: item for item in ITEMS}


@pytest.fixture
async def tools(
    small_index: IndexSettings,
    embedder: Embedder,
    redis_url: str,
    redis_prefix: str,
    redis_client: aioredis.Redis,
) -> AsyncIterator[Running]:
    store = BehaviourStore(redis_client, redis_prefix)
    server = RetrievalServer(retrieval_settings(small_index, redis_url, redis_prefix), store)
    await server.start()
    await server.load(embedder)
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{server.port}")
    try:
        stub = retrieval_pb2_grpc.RetrievalServiceStub(channel)  # type: ignore[no-untyped-call]
        yield Running(server, channel, stub, store)
    finally:
        await channel.close()
        await server.stop(0)


async def plan(tools: Running, prefs: Preferences, **fields: object) -> retrieval_pb2.PlanToolsResponse:
    request = retrieval_pb2.PlanToolsRequest(preferences=prefs.to_pb(), top_k=12, **fields)  # type: ignore[arg-type]
    response: retrieval_pb2.PlanToolsResponse = await tools.stub.PlanTools(request, timeout=10)
    return response


async def test_hard_positive_category_never_violated(tools: Running) -> None:
    prefs = Preferences(hard_positive=[Constraint(field="category", value=LAB)], soft_positive=["glue"])
    response = await plan(tools, prefs)
    assert ids(response.items)
    assert all(LAB in BY_ID[i].category_path for i in ids(response.items))
    assert [call.tool for call in response.plan] == ["behaviour", "filter", "matcher", "aggregator"]
    assert response.allowed_items == 4


async def test_hard_negative_brand_and_item_are_dropped(tools: Running) -> None:
    prefs = Preferences(
        hard_negative=[Constraint(field="brand", value="3m"), Constraint(field="item", value="m1")]
    )
    got = ids((await plan(tools, prefs)).items)
    assert "s2" not in got and "p2" not in got and "m1" not in got
    assert len(got) == len(ITEMS) - 3


async def test_matcher_ranks_the_wanted_text_first(tools: Running) -> None:
    got = ids((await plan(tools, Preferences(soft_positive=["microscope"]))).items)
    assert set(got[:2]) == {"m1", "m2"}


async def test_attenuator_pushes_unwanted_down(tools: Running) -> None:
    plain = ids((await plan(tools, Preferences(soft_positive=["laboratory equipment"]))).items)
    attenuated_response = await plan(
        tools, Preferences(soft_positive=["laboratory equipment"], soft_negative=["microscope"])
    )
    attenuated = ids(attenuated_response.items)
    assert "attenuator" in [call.tool for call in attenuated_response.plan]
    assert attenuated.index("m1") > plain.index("m1")


async def test_seen_and_excluded_items_are_left_out(tools: Running) -> None:
    await tools.store.append("plan-user", [Interaction(item_id="m1", timestamp=1)])
    response = await plan(tools, Preferences(), user_id="plan-user", exclude_item_ids=["b1"])
    got = ids(response.items)
    assert "m1" not in got and "b1" not in got
    # Co-occurrence with m1 puts b1's neighbours... and nothing the user saw.
    assert response.plan[0].arguments["source"] == "co-occurrence with recent items"


async def test_base_ranking_is_the_behaviour_score(tools: Running) -> None:
    base = [common_pb2.ScoredItem(item=common_pb2.Item(item_id="t2"), score=1.0, route="collaborative")]
    response = await plan(tools, Preferences(hard_negative=[Constraint(field="item", value="m2")]), base=base)
    assert response.items[0].item.item_id == "t2"
    assert response.items[0].route == "collaborative"


async def test_invalid_preferences_are_refused(tools: Running) -> None:
    request = retrieval_pb2.PlanToolsRequest(
        preferences=common_pb2.Preferences(hard_positive=[common_pb2.Constraint(field="price", value="1")])
    )
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await tools.stub.PlanTools(request, timeout=10)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_a_new_tool_is_planned_without_touching_the_planner() -> None:
    class Boost:
        name = "test-boost"
        stage = 50

        def needed(self, preferences: Preferences) -> bool:
            return "boost" in preferences.soft_positive

        async def run(self, state: PlanState) -> dict[str, str]:
            return {}

    tool = registry.register(Boost())
    try:
        from retrieval.tools import planner

        state = PlanState.__new__(PlanState)
        state.preferences = Preferences(soft_positive=["boost"])
        assert "test-boost" in [t.name for t in planner.plan(state)]
        state.preferences = Preferences()
        assert "test-boost" not in [t.name for t in planner.plan(state)]
    finally:
        registry.unregister(tool.name)
