"""Frequent + transitions and the LLM's tags topped up with it, on hand-counted sequences."""

from __future__ import annotations

from evaluation.split import Split
from evaluation.tag_baselines import frequent_then_transitions, training_transitions
from recgpt.common.v1 import common_pb2
from recgpt_domain.catalogue import Interaction
from recgpt_domain.category_transitions import CategoryTransitions, topped_up

SEQUENCES = [
    ["glue", "tape", "tape", "gloves"],
    ["glue", "tape"],
    ["glue", "gloves", ""],
    ["tape"],
]


def test_counts_what_follows_each_category() -> None:
    transitions = CategoryTransitions.count(SEQUENCES)
    assert transitions.follows["glue"] == ["tape", "gloves"]  # 2 against 1
    assert transitions.follows["tape"] == ["gloves", "tape"]  # 1 each: by name
    assert "gloves" not in transitions.follows  # nothing ever followed it
    assert transitions.popular == ["tape", "gloves"]  # 3 against 2
    assert (transitions.users, transitions.transitions) == (4, 5)


def test_frequent_first_then_followers_then_popular() -> None:
    transitions = CategoryTransitions.count(SEQUENCES)
    assert frequent_then_transitions(["wire"], "glue", transitions, 3) == ["wire", "tape", "gloves"]
    assert frequent_then_transitions(["tape"], "glue", transitions, 30) == ["tape", "gloves"]
    # A last category never seen in training: the popular next categories fill the slots.
    assert frequent_then_transitions([], "solder", transitions, 1) == ["tape"]


def test_topped_up_keeps_order_and_drops_repeats() -> None:
    assert topped_up(["a", "", "b", "a"], ["b", "c", "d"], 3) == ["a", "b", "c"]
    assert topped_up([], [], 5) == []


def _split(user_id: str, item_ids: list[str]) -> Split:
    interactions = [Interaction(item_id=i, timestamp=n) for n, i in enumerate(item_ids)]
    return Split(user_id=user_id, history=interactions[:-1], target=interactions[-1])


def test_transitions_never_count_an_evaluated_user() -> None:
    served = {
        name: common_pb2.Item(item_id=name, category_path=["Shop", name.upper()]) for name in ("a", "b", "c")
    }
    training, evaluated = _split("1", ["a", "b", "c"]), _split("2", ["c", "a"])
    transitions = training_transitions([training, evaluated], [evaluated], served)
    assert transitions.follows == {"A": ["B"], "B": ["C"]}  # the training user's target counts, c -> a not
    assert transitions.users == 1
