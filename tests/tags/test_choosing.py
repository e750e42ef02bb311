"""Choose mode: the model picks among the statistics' candidates, one answer constrained to their numbers."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
from pydantic import ValidationError

from recgpt_domain import tag_choice as choosing
from recgpt_domain.behaviour_context import compress
from recgpt_domain.catalogue import Interaction
from recgpt_domain.prompt_versions import TAGS_CHOOSE_V1, TAGS_V1, current_profile_prompt_version
from recgpt_serving.llm.client import response_format
from tags.fallback import STATISTICS_RATIONALE
from tags.servicer import CHOSEN_RATIONALE
from tests.tags.candidates import BY_ID, CANDIDATES, all_fallbacks
from tests.tags.running import Running, Serve, predict

NAMES = CANDIDATES.names


def pool_of(*item_ids: str) -> list[str]:
    interactions = [Interaction(item_id=i, timestamp=n) for n, i in enumerate(item_ids)]
    return CANDIDATES.pool(compress(interactions, BY_ID, 400), BY_ID, 60)


def answer(pool: list[str], *categories: str) -> str:
    """The model's answer: each category by its number in the pool's list."""
    return json.dumps({"tags": [pool.index(category) + 1 for category in categories]})


def test_the_schema_allows_only_the_candidates_numbers() -> None:
    schema = choosing.number_schema(2, 3)
    sent = response_format(schema)["json_schema"]["schema"]
    tags = sent["properties"]["tags"]
    assert tags["items"] == {"type": "integer", "enum": [1, 2]}
    assert (tags["minItems"], tags["maxItems"]) == (1, 3)
    assert sent["additionalProperties"] is False
    # What comes back is validated as untrusted input: any list of integers parses, the list decides.
    assert schema.model_validate_json('{"tags": [7]}').tags == [7]
    for bad in ('{"tags": [{"tag": 1}]}', '{"tags": ["Glues"]}'):
        with pytest.raises(ValidationError):
            schema.model_validate_json(bad)


def test_numbers_name_the_listed_names_and_nothing_past_the_list() -> None:
    names = ["Lab Beakers", "Pipettes", "Nitrile Gloves"]
    assert choosing.numbered(names, 4) == "4. Lab Beakers\n5. Pipettes\n6. Nitrile Gloves"
    assert choosing.named_by_numbers([2, 0, 3, 4, -1], names) == ["Pipettes", "", "Nitrile Gloves", "", ""]


def test_chosen_categories_keep_the_answers_order_once_each_and_only_the_pool() -> None:
    by_name = {"Lab Beakers": "Beakers", "Pipettes": "Pipettes", "Nitrile Gloves": "Gloves"}
    answer = ["Pipettes", "Glues", "Pipettes", " Lab  Beakers ", "Nitrile Gloves"]
    assert choosing.chosen_categories(answer, by_name, 10) == ["Pipettes", "Beakers", "Gloves"]
    assert choosing.chosen_categories(answer, by_name, 2) == ["Pipettes", "Beakers"]
    assert choosing.chosen_categories(["Glues"], by_name, 5) == []


@pytest.fixture
async def choosing_service(serve: Serve) -> AsyncIterator[Running]:
    async with serve(CANDIDATES, tag_mode="choose") as running:
        yield running


async def test_the_models_picks_are_served_in_its_order_each_naming_its_category(
    choosing_service: Running,
) -> None:
    running = choosing_service
    pool = pool_of("m1", "b1")
    # The model puts the pool's last candidate first, and repeats one.
    running.llm.behaviour.content = answer(pool, pool[-1], "Beakers", pool[-1])
    reply = await running.stub.PredictTags(predict("m1", "b1", max_tags=3))
    assert not reply.fallback and reply.provenance.prompt_version == TAGS_CHOOSE_V1
    assert [tag.category for tag in reply.tags] == [pool[-1], "Beakers"]
    for tag in reply.tags:
        assert tag.tag == NAMES[tag.category] and tag.category_score == 1.0
        assert tag.rationale == CHOSEN_RATIONALE and tag.interest in ("microscopy", "lab glassware")
    # One request, listing every candidate by its name, numbered, and decoding constrained to those numbers.
    [seen] = running.llm.seen
    prompt = seen.body["messages"][-1]["content"]
    assert all(f"\n{n}. {NAMES[category]}\n" in prompt for n, category in enumerate(pool, 1))
    items = seen.body["response_format"]["json_schema"]["schema"]["properties"]["tags"]
    assert items["items"]["enum"] == list(range(1, len(pool) + 1))
    assert items["maxItems"] == 3
    assert reply.usage.prompt_tokens == 12 and reply.usage.completion_tokens == 7


async def test_a_failed_request_serves_the_pools_order_counted(choosing_service: Running) -> None:
    choosing_service.llm.behaviour.mode = "status"
    choosing_service.llm.behaviour.status = 500
    before = all_fallbacks()
    reply = await choosing_service.stub.PredictTags(predict("m1", "b1", max_tags=4))
    assert reply.fallback and reply.provenance.fallback
    assert [tag.category for tag in reply.tags] == pool_of("m1", "b1")[:4]
    assert all(tag.rationale == STATISTICS_RATIONALE for tag in reply.tags)
    assert all_fallbacks() == before + 1


async def test_an_answer_naming_no_candidate_serves_the_pools_order_counted(
    choosing_service: Running,
) -> None:
    """The engine enforces the enum, but an answer is untrusted: numbers past the list count for nothing."""
    choosing_service.llm.behaviour.content = '{"tags": [404]}'
    before = all_fallbacks()
    reply = await choosing_service.stub.PredictTags(predict("m1", "b1", max_tags=2))
    assert reply.fallback and [tag.category for tag in reply.tags] == pool_of("m1", "b1")[:2]
    assert reply.usage.completion_tokens == 7  # what the unusable answer cost is still reported
    assert all_fallbacks() == before + 1


def test_a_choose_mode_profile_has_its_own_prompt_version() -> None:
    """So that the near-line job refreshes profiles made in another mode."""
    assert TAGS_CHOOSE_V1 in current_profile_prompt_version("choose")
    assert TAGS_V1 in current_profile_prompt_version("generate") == current_profile_prompt_version("rank")
    # Choose mode is the served default.
    assert current_profile_prompt_version("choose") == current_profile_prompt_version()
    assert current_profile_prompt_version("generate") != current_profile_prompt_version()
