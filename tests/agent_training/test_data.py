import json
from dataclasses import replace

import pytest

from agent_training import data
from agent_training.agents import BEHAVIOUR_AGENTS, TAGS, UnknownAgent, resolve
from agent_training.data import DataConfig, NoUsableExamples
from evaluation.split import choose, eligible
from recgpt_domain.behaviour_context import compress
from recgpt_domain.catalogue import UserHistory
from recgpt_domain.tag_ranking import Candidates
from tags import prompts as tag_prompts
from tests.agent_training import catalogue

ITEMS = {item.item_id: item for item in catalogue.items()}
# Few evaluation users drawn, so that the made-up catalogue keeps training users.
# Generate mode unless a test says otherwise: most tests here read the tags the LLM writes.
CONFIG = DataConfig(evaluation_counts=(5, 10), validation_share=0.2, tag_mode="generate")


@pytest.mark.parametrize("agent", BEHAVIOUR_AGENTS)
def test_no_evaluation_user_and_no_last_item_ever_enters(agent: str) -> None:
    histories = catalogue.histories()
    built = data.build(resolve(agent), histories, ITEMS, CONFIG)
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
        picks = json.loads(example.completion)["tags"]
        assert len(picks) == min(3, len(pool)) and len(set(picks)) == len(picks)
        by_name = dict(zip(names, pool, strict=True))
        chosen = [by_name[name] for name in picks]
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
