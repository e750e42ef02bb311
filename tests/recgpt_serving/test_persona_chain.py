"""RecGPT-V2's chain over gRPC (fake services, `tests.evaluation.fake_v2_services`): planner -> experts ->
arbiter, and the next-best path when an agent gives nothing: fewer personas, then V1's tags."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import pytest
from prometheus_client import REGISTRY

from recgpt.intent.v1 import intent_pb2_grpc
from recgpt.tags.v1 import tags_pb2_grpc
from recgpt_serving import persona_chain
from recgpt_serving.persona_chain import ChainOptions
from tests.evaluation.fake_services import Seen
from tests.evaluation.fake_v2_services import fake_v2_platform

OPTIONS = ChainOptions(deadline_s=5.0, personas=3, expert_tags=4, arbiter_tags=2)
Stubs = tuple[intent_pb2_grpc.IntentServiceStub, tags_pb2_grpc.TagsServiceStub, Seen]


def paths(path: str) -> float:
    return REGISTRY.get_sample_value("recgpt_persona_chain_paths_total", {"path": path}) or 0.0


@pytest.fixture
async def stubs() -> AsyncIterator[Stubs]:
    async with fake_v2_platform() as (target, seen), grpc.aio.insecure_channel(target) as channel:
        yield (
            intent_pb2_grpc.IntentServiceStub(channel),  # type: ignore[no-untyped-call]
            tags_pb2_grpc.TagsServiceStub(channel),  # type: ignore[no-untyped-call]
            seen,
        )


async def test_every_persona_answered_goes_through_the_arbiter(stubs: Stubs) -> None:
    intent, tags, seen = stubs
    before = paths("v2")
    answer = await persona_chain.reason(intent, tags, "u:1", [], OPTIONS)
    assert answer.path == "v2" and paths("v2") == before + 1
    assert [(t.category, t.interest) for t in answer.tags] == [
        ("Drama", "comedy fan"),
        ("Comedy", "comedy fan"),
    ]
    # One expert per persona, each told only its persona (called at once, so they arrive in any order); the
    # arbiter gets every pick in persona order.
    experts = seen.of("ExpertTags")
    assert sorted((r.persona, list(r.persona_categories), r.max_tags) for r in experts) == [
        ("comedy fan", ["Comedy"], 4),
        ("drama fan", ["Drama"], 4),
    ]
    [arbitrate] = seen.of("ArbitrateTags")
    assert [(t.category, t.interest) for t in arbitrate.candidates] == [
        ("Comedy", "comedy fan"),
        ("Drama", "comedy fan"),
        ("Drama", "drama fan"),
    ]
    assert arbitrate.max_tags == 2 and seen.of("PlanPersonas")[0].max_personas == 3
    assert (answer.usage["planner"].prompt_tokens, answer.usage["experts"].prompt_tokens) == (30, 30)
    assert (answer.usage["arbiter"].prompt_tokens, answer.usage["v1"].prompt_tokens) == (25, 0)
    assert answer.total_usage.prompt_tokens == 85 and not seen.of("MineInterests")


async def test_an_expert_that_falls_back_drops_its_persona(stubs: Stubs) -> None:
    intent, tags, seen = stubs
    answer = await persona_chain.reason(intent, tags, "u:3", [], OPTIONS)
    assert answer.path == "fewer_personas" and answer.expert_fallbacks == 1
    [arbitrate] = seen.of("ArbitrateTags")
    assert {t.interest for t in arbitrate.candidates} == {"comedy fan"}


@pytest.mark.parametrize("user", ["u:2", "u:4"])
async def test_no_persona_left_serves_v1s_tags(stubs: Stubs, user: str) -> None:
    """u:2: the planner fell back; u:4: its only expert did."""
    intent, tags, seen = stubs
    before = paths("v1_tags")
    answer = await persona_chain.reason(intent, tags, user, [], OPTIONS)
    assert answer.path == "v1_tags" and paths("v1_tags") == before + 1
    assert answer.mined is not None and answer.predicted is not None and answer.arbiter is None
    assert [t.category for t in answer.tags] == [t.category for t in answer.predicted.tags]
    assert not seen.of("ArbitrateTags") and len(seen.of("PredictTags")) == 1
    assert answer.usage["v1"].prompt_tokens == 30
