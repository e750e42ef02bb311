"""PredictTags and MapToCategories over real gRPC: every predicted tag is checked, failures fall back."""

from __future__ import annotations

import json
import time

import grpc
import pytest
from prometheus_client import REGISTRY

from recgpt.common.v1 import common_pb2
from recgpt.tags.v1 import tags_pb2
from recgpt_domain.catalogue import Interaction
from recgpt_serving.llm.models import DEFAULT_MODEL_NAME as CONFIGURED_MODEL
from tags.fallback import RATIONALE
from tags.prompts import PROMPT_VERSION
from tests.tags.running import INTERESTS, Running, behaviour, predict


def answer(*triples: tuple[str, str, str]) -> str:
    return json.dumps({"tags": [{"tag": t, "interest": i, "rationale": r} for t, i, r in triples]})


def counter(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def fallbacks(reason: str) -> float:
    return counter("recgpt_agent_fallbacks_total", agent="tag_predictor", reason=reason)


def dropped(reason: str) -> float:
    return counter("recgpt_agent_dropped_outputs_total", agent="tag_predictor", reason=reason)


async def test_a_valid_answer_gives_mapped_tags_with_provenance_and_usage(tags: Running) -> None:
    tags.llm.behaviour.content = answer(
        ("stereo zoom microscope", "microscopy", "you use microscopes"),
        ("graduated glass cylinder", "Lab Glassware", "beakers go with cylinders"),
    )
    tags.llm.behaviour.prompt_tokens, tags.llm.behaviour.completion_tokens = 400, 60
    before = time.time()
    reply = await tags.stub.PredictTags(predict("m1", "b1"))
    assert not reply.fallback
    assert [(t.tag, t.interest) for t in reply.tags] == [
        ("stereo zoom microscope", "microscopy"),
        ("graduated glass cylinder", "lab glassware"),  # spelled as in the request
    ]
    assert reply.tags[0].rationale == "you use microscopes"
    assert reply.tags[0].category == "Microscopes"
    assert reply.tags[1].category == "Beakers"
    assert all(0.33 <= t.category_score <= 1.0 for t in reply.tags)
    assert not reply.provenance.fallback
    # The configured model, not the name a worker reports (vLLM reports an adapter as the model).
    assert (reply.provenance.model, reply.provenance.adapter) == (CONFIGURED_MODEL, "")
    assert reply.provenance.prompt_version == PROMPT_VERSION
    assert reply.provenance.created_at_unix >= int(before)
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens) == (400, 60)
    assert reply.usage.engine_seconds > 0


async def test_the_prompt_and_schema_carry_the_interests(tags: Running) -> None:
    tags.llm.behaviour.content = answer(("stereo zoom microscope", "microscopy", "r"))
    await tags.stub.PredictTags(predict("m1", max_tags=5))
    body = tags.llm.seen[-1].body
    prompt = body["messages"][-1]["content"]
    assert "- microscopy\n- lab glassware" in prompt and "Compound light microscope" in prompt
    schema = body["response_format"]["json_schema"]["schema"]
    assert schema["properties"]["tags"]["maxItems"] == 5
    tag_schema = next(iter(schema["$defs"].values()))
    assert tag_schema["properties"]["interest"]["enum"] == INTERESTS
    assert tag_schema["properties"]["tag"]["maxLength"] == 40
    assert body["max_tokens"] == tags.settings.tag_max_tokens


async def test_max_tags_defaults_and_is_capped(tags: Running) -> None:
    tags.llm.behaviour.content = answer(("stereo zoom microscope", "microscopy", "r"))
    await tags.stub.PredictTags(predict("m1"))
    await tags.stub.PredictTags(predict("m1", max_tags=10_000))
    limits = [seen.body["response_format"]["json_schema"]["schema"] for seen in tags.llm.seen]
    assert [schema["properties"]["tags"]["maxItems"] for schema in limits] == [24, 50]


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("{not json", "invalid_json"),
        ("", "empty"),
        ('{"tags": [{"tag": "stereo microscope"}]}', "schema_mismatch"),
    ],
)
async def test_an_unusable_answer_falls_back_to_frequent_categories(
    tags: Running, content: str, reason: str
) -> None:
    tags.llm.behaviour.content = content
    before = fallbacks(reason)
    reply = await tags.stub.PredictTags(predict("m1", "b1", "m2"))
    assert reply.fallback and reply.provenance.fallback
    assert [(t.tag, t.interest) for t in reply.tags] == [
        ("Microscopes", "microscopy"),
        ("Beakers", "lab glassware"),
    ]
    assert all(t.category == t.tag and t.category_score == 1.0 for t in reply.tags)
    assert reply.tags[0].rationale == RATIONALE
    assert reply.provenance.model == CONFIGURED_MODEL
    assert reply.provenance.prompt_version == PROMPT_VERSION
    assert fallbacks(reason) == before + 1


async def test_interests_not_in_the_request_are_re_tied_or_dropped(tags: Running) -> None:
    tags.llm.behaviour.content = answer(
        ("stereo zoom microscope", "lab microscopy", "close to an interest"),
        ("borosilicate glass flask", "cooking recipes", "not an interest"),
        ("digital microscope camera", "", "no interest"),
    )
    before = dropped("unknown_interest")
    reply = await tags.stub.PredictTags(predict("b1"))
    assert [(t.tag, t.interest) for t in reply.tags] == [("stereo zoom microscope", "microscopy")]
    assert dropped("unknown_interest") == before + 2


async def test_malformed_duplicate_off_topic_and_owned_tags_are_dropped(tags: Running) -> None:
    tags.llm.behaviour.content = answer(
        ("stereo zoom microscope", "microscopy", "kept"),
        ("Stereo  Zoom Microscope.", "microscopy", "duplicate"),
        ("microscopes", "microscopy", "one word"),
        ("a b c d e f g h i", "microscopy", "nine words"),
        ("x" * 41 + " y", "microscopy", "too long"),
        ("modifier + core word", "microscopy", "placeholder"),
        ("hello world", "microscopy", "off-topic"),
        ("the the", "lab glassware", "off-topic"),
        ("Digital USB microscope camera", "microscopy", "the user has this exact item"),
        ("digital usb microscope cameras", "microscopy", "nearly the same title"),
        ("glass measuring cylinder", "lab glassware", "kept"),
    )
    reasons = ["duplicate", "not_modifier_core", "too_long", "placeholder", "off_topic", "owned_item"]
    before = {reason: dropped(reason) for reason in reasons}
    reply = await tags.stub.PredictTags(predict("m2", "b1"))
    assert not reply.fallback
    assert [t.tag for t in reply.tags] == ["stereo zoom microscope", "glass measuring cylinder"]
    increments = {reason: dropped(reason) - before[reason] for reason in reasons}
    assert increments == {
        "duplicate": 1, "not_modifier_core": 2, "too_long": 1, "placeholder": 1, "off_topic": 2,
        "owned_item": 2,
    }  # fmt: skip


async def test_owned_items_are_the_users_own(tags: Running) -> None:
    """The same tag is fine for a user who does not have the item."""
    tags.llm.behaviour.content = answer(("Digital USB microscope camera", "microscopy", "r"))
    reply = await tags.stub.PredictTags(predict("m1"))
    assert [t.tag for t in reply.tags] == ["Digital USB microscope camera"]


async def test_no_valid_tag_left_falls_back_with_the_usage(tags: Running) -> None:
    tags.llm.behaviour.content = answer(("hello world", "microscopy", "r"))
    before = fallbacks("too_few_valid")
    reply = await tags.stub.PredictTags(predict("m1"))
    assert reply.fallback
    assert [t.tag for t in reply.tags] == ["Microscopes"]
    assert reply.provenance.model == CONFIGURED_MODEL and reply.provenance.fallback
    assert reply.usage.completion_tokens == tags.llm.behaviour.completion_tokens
    assert fallbacks("too_few_valid") == before + 1


async def test_a_short_caller_deadline_cuts_the_llm_call_to_a_fallback(tags: Running) -> None:
    """The LLM answers after the caller's deadline: the call is cut to fit, the fallback answers in time."""
    tags.llm.behaviour.content = answer(("stereo zoom microscope", "microscopy", "r"))
    tags.llm.behaviour.latency_s = 5.0
    before = fallbacks("timeout")
    reply = await tags.stub.PredictTags(predict("m1", "m2"), timeout=1.5)
    assert reply.fallback and reply.provenance.fallback
    assert [t.tag for t in reply.tags] == ["Microscopes"]
    assert fallbacks("timeout") == before + 1


async def test_no_interests_and_no_behaviour_is_an_empty_answer(tags: Running) -> None:
    before = fallbacks("no_behaviour")
    reply = await tags.stub.PredictTags(tags_pb2.PredictTagsRequest(user_id="nobody"))
    assert reply.fallback
    assert list(reply.tags) == []
    assert tags.llm.seen == []
    assert fallbacks("no_behaviour") == before + 1


async def test_no_interests_with_behaviour_gives_fallback_tags_without_the_llm(tags: Running) -> None:
    before = fallbacks("no_interests")
    reply = await tags.stub.PredictTags(predict("g1", "s1", "g1", interests=[" ", ""]))
    assert reply.fallback
    assert [(t.tag, t.interest) for t in reply.tags] == [
        ("Glues", "Glues"),
        ("Sanding Discs", "Sanding Discs"),
    ]
    assert tags.llm.seen == []
    assert fallbacks("no_interests") == before + 1


async def test_one_interaction_takes_the_llm_path(tags: Running) -> None:
    tags.llm.behaviour.content = answer(("epoxy glue", "adhesives", "you bought glue"))
    reply = await tags.stub.PredictTags(predict("g1", interests=["adhesives"]))
    assert not reply.fallback
    assert [(t.tag, t.category) for t in reply.tags] == [("epoxy glue", "Glues")]


async def test_behaviour_is_read_from_redis_when_the_request_has_none(tags: Running) -> None:
    await tags.store.append("u7", [Interaction(item_id="n1"), Interaction(item_id="f1")])
    tags.llm.behaviour.content = answer(("PETG printer filament", "3d printing", "r"))
    request = tags_pb2.PredictTagsRequest(
        user_id="u7", interests=[common_pb2.Interest(interest="3d printing")]
    )
    reply = await tags.stub.PredictTags(request)
    prompt = tags.llm.seen[-1].body["messages"][-1]["content"]
    assert "Nitrile disposable gloves" in prompt and "PLA 3D printer filament" in prompt
    assert not reply.fallback
    assert [(t.tag, t.category) for t in reply.tags] == [("PETG printer filament", "3D Printing Filament")]


@pytest.mark.parametrize(
    ("request_", "fragment"),
    [
        (tags_pb2.PredictTagsRequest(user_id="u" * 129), "user_id"),
        (tags_pb2.PredictTagsRequest(user_id="u", behaviour=behaviour(*["m1"] * 1001)), "behaviour"),
        (tags_pb2.PredictTagsRequest(user_id="u", max_tags=-3), "max_tags"),
        (
            tags_pb2.PredictTagsRequest(user_id="u", interests=[common_pb2.Interest(interest="x")] * 51),
            "interests",
        ),
        (
            tags_pb2.PredictTagsRequest(user_id="u", interests=[common_pb2.Interest(interest="x" * 201)]),
            "interests[0]",
        ),
    ],
)
async def test_bad_requests_are_invalid_arguments(
    tags: Running, request_: tags_pb2.PredictTagsRequest, fragment: str
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await tags.stub.PredictTags(request_)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert fragment in (caught.value.details() or "")
    assert tags.llm.seen == []


async def test_map_to_categories_maps_each_tag_in_order(tags: Running) -> None:
    reply = await tags.stub.MapToCategories(
        tags_pb2.MapToCategoriesRequest(tags=["digital pipette", "nitrile exam gloves", "epoxy glue"])
    )
    assert [(t.tag, t.category) for t in reply.tags] == [
        ("digital pipette", "Pipettes"),
        ("nitrile exam gloves", "Gloves"),
        ("epoxy glue", "Glues"),
    ]
    assert all(0.4 < t.category_score <= 1.0 for t in reply.tags)
    assert tags.llm.seen == []
    empty = await tags.stub.MapToCategories(tags_pb2.MapToCategoriesRequest())
    assert list(empty.tags) == []


@pytest.mark.parametrize(
    ("values", "fragment"),
    [([" "], "tags[0] is empty"), (["ok tag", "x" * 201], "tags[1]"), (["a b"] * 201, "too many tags")],
)
async def test_map_to_categories_rejects_bad_tags(tags: Running, values: list[str], fragment: str) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await tags.stub.MapToCategories(tags_pb2.MapToCategoriesRequest(tags=values))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert fragment in (caught.value.details() or "")
