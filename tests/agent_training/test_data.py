import json
from dataclasses import replace

import pytest
import redis.asyncio as aioredis

from agent_training import data
from agent_training.agents import BEHAVIOUR_AGENTS, EXPERT, TAGS, UnknownAgent, resolve
from agent_training.data import DataConfig, NoUsableExamples
from evaluation.split import choose, eligible
from recgpt.common.v1 import common_pb2
from recgpt.tags.v1 import tags_pb2
from recgpt_domain.behaviour_context import compress
from recgpt_domain.catalogue import Interaction, UserHistory
from recgpt_domain.category_map import CachedEncoder, CategoryMapper
from recgpt_domain.embedder import Embedder
from recgpt_domain.tag_ranking import Candidates
from tags import prompts as tag_prompts
from tests.agent_training import catalogue
from tests.lab_catalogue import ITEMS as LAB_ITEMS
from tests.recgpt_serving.llm.fake_openai import FakeOpenAI
from tests.tags.candidates import BY_ID as LAB_BY_ID
from tests.tags.candidates import CANDIDATES as LAB_CANDIDATES
from tests.tags.running import serving, tags_settings

ITEMS = {item.item_id: item for item in catalogue.items()}
# Few evaluation users drawn, so that the made-up catalogue keeps training users.
# Generate mode unless a test says otherwise: most tests here read the tags the LLM writes.
CONFIG = DataConfig(evaluation_counts=(5, 10), validation_share=0.2, tag_mode="generate")


@pytest.mark.parametrize("agent", BEHAVIOUR_AGENTS)
def test_no_evaluation_user_and_no_last_item_ever_enters(agent: str) -> None:
    histories = catalogue.histories()
    built = data.build(resolve(agent), histories, ITEMS, CONFIG, near=catalogue.NearLeaves())
    splits = eligible(histories)
    drawn = {s.user_id for n in CONFIG.evaluation_counts for s in choose(splits, n, CONFIG.evaluation_seed)}
    examples = built.train + built.validation
    assert examples
    assert not drawn & {e.user_id for e in examples}
    last_titles = {h.user_id: ITEMS[h.interactions[-1].item_id].title for h in histories}
    for example in examples:
        text = json.dumps(example.prompt) + example.completion
        assert last_titles[example.user_id] not in text, "a held-out last item entered"
    assert built.users["evaluation_reserved"] == len(drawn)


def test_validation_users_are_kept_apart() -> None:
    built = data.build(TAGS, catalogue.histories(), ITEMS, CONFIG)
    assert built.validation
    assert not {e.user_id for e in built.train} & {e.user_id for e in built.validation}


def test_tag_prompt_is_the_served_one_and_targets_are_the_next_categories() -> None:
    histories = {h.user_id: h for h in catalogue.histories()}
    built = data.build(TAGS, histories.values(), ITEMS, CONFIG)
    example = built.train[0]
    log = histories[example.user_id].interactions
    # Find the cut: the context whose compressed text is in the prompt.
    served = [
        tag_prompts.messages(compress(log[:cut], ITEMS).text, list(example.interests), CONFIG.max_tags)
        for cut in range(1, len(log))
    ]
    assert example.prompt in served
    answer = json.loads(example.completion)["tags"]
    assert [tag["tag"] for tag in answer] and set(example.next_categories) <= {
        ITEMS[i.item_id].category for i in log
    }


def test_choose_mode_examples_offer_the_served_candidates_and_put_the_next_categories_first() -> None:
    """The prompt is the tag service's choose-mode one over the statistics' pool, counted from the logs the
    platform holds (no evaluation user's, no last item); the target keeps the pool's order after the next
    categories, each once, at most `choose_target_tags`."""
    histories = {h.user_id: h for h in catalogue.histories()}
    config = replace(CONFIG, tag_mode="choose", tag_pool=5, choose_target_tags=3)
    built = data.build(TAGS, histories.values(), ITEMS, config)
    splits = eligible(list(histories.values()))
    reserved = data.reserved_for_evaluation(splits, config)
    held = [
        UserHistory(user_id=s.user_id, interactions=list(s.history))
        for s in splits
        if s.user_id not in reserved
    ]
    candidates = Candidates.count(held, ITEMS)
    assert built.train and built.validation
    for example in built.train[:20]:
        log = histories[example.user_id].interactions
        served = {}
        for cut in range(1, len(log)):
            behaviour = compress(log[:cut], ITEMS)
            pool = candidates.pool(behaviour, ITEMS, 5)
            names = [candidates.names[c] for c in pool]
            prompt = tag_prompts.choose_messages(
                behaviour.text, list(example.interests), names, config.max_tags
            )
            served[json.dumps(prompt)] = (pool, names)
        assert json.dumps(example.prompt) in served
        pool, names = served[json.dumps(example.prompt)]
        assert list(example.pool) == pool and list(example.pool_names) == names
        # The picks are numbers of the listed pool, as the service's schema asks.
        picks = json.loads(example.completion)["tags"]
        assert len(picks) == min(3, len(pool)) and len(set(picks)) == len(picks)
        chosen = [pool[number - 1] for number in picks]
        first = [c for c in example.next_categories if c in pool]
        assert chosen == list(dict.fromkeys([*first, *pool]))[:3]
    # The adapter records the prompt it was trained for.
    assert (
        data.build(TAGS, histories.values(), ITEMS, config).fingerprint
        != data.build(TAGS, histories.values(), ITEMS, CONFIG).fingerprint
    )


def test_fingerprint_is_stable_and_follows_the_data() -> None:
    first = data.build(TAGS, catalogue.histories(), ITEMS, CONFIG).fingerprint
    again = data.build(TAGS, catalogue.histories(), ITEMS, CONFIG).fingerprint
    other = data.build(TAGS, catalogue.histories(), ITEMS, DataConfig(evaluation_counts=(5,))).fingerprint
    assert first == again != other


def test_users_with_one_interaction_give_a_clear_error() -> None:
    short = [h for h in catalogue.histories() if len(h.interactions) <= 2]
    with pytest.raises(NoUsableExamples, match="at least three interactions"):
        data.build(TAGS, short, ITEMS, DataConfig(evaluation_counts=()))


def test_unknown_agent_is_refused() -> None:
    with pytest.raises(UnknownAgent, match="unknown agent"):
        resolve("poet")
    assert resolve("tags") == TAGS


def expert_builder(config: DataConfig = CONFIG) -> data.ExampleBuilder:
    """The expert's builder as `data.build` makes it: statistics of the logs the platform holds."""
    splits = eligible(catalogue.histories())
    reserved = data.reserved_for_evaluation(splits, config)
    held = [
        UserHistory(user_id=s.user_id, interactions=list(s.history))
        for s in splits
        if s.user_id not in reserved
    ]
    return data.ExampleBuilder(EXPERT, ITEMS, config, Candidates.count(held, ITEMS), catalogue.NearLeaves())


def test_expert_examples_read_only_what_came_before_the_cut_and_target_what_came_next() -> None:
    """The prompt is the expert's over the items before the cut; the next items never enter it, and their
    categories are the targets."""
    builder = expert_builder()
    assert builder.candidates is not None
    built = 0
    for history in catalogue.histories():
        log = history.interactions
        for cut in range(1, len(log)):
            example = builder.build(history.user_id, log, cut)
            if example is None:
                continue
            built += 1
            following = log[cut : cut + CONFIG.next_window]
            categories = tuple(dict.fromkeys(ITEMS[i.item_id].category for i in following))
            assert example.next_categories == categories
            prompt = json.dumps(example.prompt)
            assert all(ITEMS[i.item_id].title not in prompt for i in following), "a next item entered"
            assert ITEMS[log[cut - 1].item_id].title in prompt, "the latest item before the cut is read"
            # The persona rests on the user's most frequent categories; its pool offers them, the first first.
            behaviour = compress(log[:cut], ITEMS, CONFIG.budget_tokens)
            assert example.persona_categories == tuple(c for c, _ in behaviour.top_categories)[:3]
            assert example.pool[0] == example.persona_categories[0]
            assert set(example.persona_categories) <= set(example.pool)
            short = compress(log[:cut], ITEMS, CONFIG.expert_budget_tokens).text
            names = [builder.candidates.names[c] for c in example.pool]
            assert list(example.pool_names) == names
            assert example.prompt == tag_prompts.expert_messages(
                example.persona, short, names, CONFIG.expert_tags
            )
    assert built > 20


def test_expert_pools_made_in_one_batch_are_those_made_one_at_a_time() -> None:
    """`build` embeds every persona at once (`ExampleBuilder.prepare`); each pool is the one alone."""
    built = data.build(EXPERT, catalogue.histories(), ITEMS, CONFIG, near=catalogue.NearLeaves())
    pools = expert_builder().pools
    assert pools is not None
    for example in built.train + built.validation:
        assert example.pool == tuple(pools.pool(example.persona, example.persona_categories))


def test_expert_examples_need_the_near_categories_unless_pools_take_none() -> None:
    with pytest.raises(ValueError, match="nearest a persona"):
        data.build(EXPERT, catalogue.histories(), ITEMS, CONFIG)
    built = data.build(EXPERT, catalogue.histories(), ITEMS, replace(CONFIG, expert_near=0))
    assert built.train and all(e.pool and len(e.pool) <= CONFIG.expert_pool for e in built.train)
    assert resolve("experts") == EXPERT


async def test_an_expert_example_is_the_tag_services_own_pool_and_prompt(
    fake_llm: FakeOpenAI, embedder: Embedder, redis_url: str, redis_prefix: str, redis_client: aioredis.Redis
) -> None:
    """What the tags service's ExpertTags builds for the example's persona and behaviour, over real gRPC
    with the real embedder: the same pool, in its order, and the same messages to the LLM."""
    mapper = CategoryMapper(CachedEncoder(embedder, 1000), LAB_ITEMS, "leaf_parent")
    builder = data.ExampleBuilder(EXPERT, LAB_BY_ID, DataConfig(), LAB_CANDIDATES, mapper)
    log = [Interaction(item_id=i, timestamp=n) for n, i in enumerate(["b1", "p1", "b1", "m1", "n1", "g1"])]
    example = builder.build("u1", log, 5)
    assert example is not None and example.next_categories == (LAB_BY_ID["g1"].category,)
    settings = tags_settings(redis_url, redis_prefix, tag_mode="choose")
    fake_llm.behaviour.content = json.dumps({"tags": [1]})
    async with serving(settings, fake_llm, mapper, redis_client, LAB_CANDIDATES) as running:
        reply = await running.stub.ExpertTags(
            tags_pb2.ExpertTagsRequest(
                user_id="u1",
                persona=example.persona,
                persona_categories=example.persona_categories,
                behaviour=[common_pb2.Interaction(item_id=i.item_id, timestamp=i.timestamp) for i in log[:5]],
            )
        )
    assert not reply.fallback and len(reply.pool) > len(example.persona_categories)
    assert tuple(reply.pool) == example.pool
    [seen] = fake_llm.seen
    assert seen.body["messages"] == example.prompt
