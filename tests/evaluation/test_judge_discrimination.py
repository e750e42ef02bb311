"""Judge discrimination: the sets built from data, and agreement as wins plus half the ties."""

from __future__ import annotations

import random
from typing import Any

import pytest

from evaluation.discrimination_sets import build_sets, sentence
from evaluation.judge_discrimination import agreement
from judge import prompts as judge_prompts
from recgpt.common.v1.common_pb2 import Tag
from recgpt_domain.catalogue import Interaction, Item, UserHistory
from recgpt_domain.category_tags import category_tags, shape_problem
from recgpt_serving.llm import likelihood
from recgpt_serving.llm.client import LlmClient, LlmSettings, _text_logprob
from recgpt_serving.llm.errors import LlmOutputError
from tests.recgpt_serving.llm.fake_openai import FakeOpenAI


def _items() -> list[Item]:
    kinds = [("Glue", "Adhesives"), ("Tape", "Tapes"), ("Gloves", "Safety"), ("Solder", "Soldering")]
    return [
        Item(
            item_id=f"{kind}{n}",
            title=f"{kind} model {n}",
            brand=f"Brand{kind}{n}",
            category_path=["Shop", leaf],
        )
        for kind, leaf in kinds
        for n in range(5)
    ]


def _histories(items: list[Item]) -> list[UserHistory]:
    rng = random.Random(0)
    histories = []
    for user in range(12):
        kind = items[(user % 4) * 5 : (user % 4) * 5 + 5]
        chosen = rng.sample(kind, 3)
        histories.append(
            UserHistory(user_id=str(user), interactions=[Interaction(item_id=i.item_id) for i in chosen])
        )
    return histories


def test_sets_pair_a_true_and_a_false_artefact() -> None:
    items = _items()
    sets = build_sets(items, _histories(items), per_set=6, seed=1)
    assert [len(pairs) for pairs in sets.values()] == [6, 6, 6]
    by_id = {item.item_id: item for item in items}
    for pair in sets["explanation_item"]:
        assert pair.item is not None and pair.true_text == sentence(pair.item, pair.interest)
        assert pair.item.title not in pair.false_text, "the false one is written for another item"
    for pair in sets["grounding"]:
        assert pair.item is not None and pair.item.brand in pair.true_text
        assert pair.item.brand not in pair.false_text, "the false one names a made-up brand"
        assert pair.true_text.replace(pair.item.brand, "") != pair.true_text
    tags = category_tags(by_id.values())
    for pair in sets["tags_user"]:
        assert pair.true_text != pair.false_text
        # Tags as the tag agent serves them (each names a category), not raw category names.
        assert {pair.true_text, pair.false_text} <= set(tags.values())
        assert all(shape_problem(text) is None for text in (pair.true_text, pair.false_text))
        own = next(h for h in _histories(items) if h.user_id == pair.user_id)
        touched = {tags[by_id[i.item_id].category] for i in own.interactions}
        assert pair.true_text in touched and pair.false_text not in touched
    again = build_sets(items, _histories(items), per_set=6, seed=1)
    assert again == sets, "the same seed gives the same pairs"


def test_agreement_counts_ties_as_half() -> None:
    figure = agreement(5, [1.0, 0.5, 0.0, -2.0])
    assert (figure.wins, figure.ties, figure.losses, figure.scored, figure.pairs) == (2, 1, 1, 4, 5)
    assert figure.agreement == pytest.approx(2.5 / 4)
    assert agreement(3, []).agreement is None


def test_text_logprob_sums_the_texts_own_tokens() -> None:
    reply = {
        "prompt_logprobs": [
            None,
            {"5": {"logprob": -9.0}},
            {"7": {"logprob": -1.5}},
            {"8": {"logprob": -0.25}},
        ]
    }
    assert _text_logprob({"tokens": [7, 8]}, reply) == pytest.approx(-1.75)
    with pytest.raises(LlmOutputError):
        _text_logprob({"tokens": [7, 9]}, reply)  # the text's tokens must be the prompt's last ones
    with pytest.raises(LlmOutputError):
        _text_logprob({"tokens": [1, 2, 3, 4, 5]}, reply)


async def test_yes_no_log_odds_read_the_first_tokens_logprobs(fake_llm: FakeOpenAI) -> None:
    def verdict(body: dict[str, Any]) -> dict[str, float]:
        asked = body["messages"][-1]["content"]
        return {" Yes": -0.2, "No": -2.0} if "glue" in asked else {"No": -0.1, "yes": -3.0, "Maybe": -0.5}

    fake_llm.behaviour.first_token_logprobs = verdict
    async with LlmClient(LlmSettings(endpoints=[fake_llm.base_url])) as client:
        fits = await likelihood.yes_log_odds(
            client, "judge", judge_prompts.yes_no_tag("b", Tag(tag="super glue"))
        )
        misfit = await likelihood.yes_log_odds(
            client, "judge", judge_prompts.yes_no_tag("b", Tag(tag="solar"))
        )
        fake_llm.behaviour.first_token_logprobs = lambda body: {"Hmm": -0.1}
        unsure = await likelihood.yes_log_odds(client, "judge", judge_prompts.yes_no_tag("b", Tag(tag="x")))
    assert fits == pytest.approx(1.8)
    assert misfit == pytest.approx(-2.9)
    assert unsure == 0.0, "neither answer among the likeliest: no preference"
    assert fake_llm.seen[0].body["max_tokens"] == 1 and fake_llm.seen[0].body["top_logprobs"] == 20
