"""Which items `bench-v2` explains for a user, and in which situation."""

from __future__ import annotations

from evaluation.bench_v2_explanations import asks_for, most_bought_by_category
from evaluation.bench_v2_figures import VariantRun
from recgpt.common.v1 import common_pb2
from recgpt_serving import persona_chain


def item(item_id: str, category: str) -> common_pb2.Item:
    return common_pb2.Item(item_id=item_id, category_path=["Root", category] if category else [])


SERVED = {
    "a": item("a", "Pipettes"),
    "b": item("b", "Pipettes"),
    "c": item("c", "Gloves"),
    "d": item("d", "Gloves"),
    "e": item("e", ""),
}


def test_the_most_bought_item_of_each_leaf_category_ties_to_the_smaller_id() -> None:
    bought = ["b", "b", "a", "d", "c", "e", "e", "e", "unknown", "unknown"]
    assert most_bought_by_category(bought, SERVED) == {"Pipettes": "b", "Gloves": "c"}


def test_asks_follow_the_tags_skip_categories_without_items_and_stop_at_the_budget() -> None:
    run = VariantRun(
        categories=["Beakers", "Gloves", "Pipettes", "Tape"],
        llm=True,
        interests={"Gloves": "safe lab work", "Pipettes": "precise dosing"},
        path=persona_chain.V2,
    )
    items = {"Gloves": "c", "Pipettes": "b", "Tape": "t"}
    winter_evening = 1_705_000_000.0  # 2024-01-11 19:06 UTC
    asks = asks_for("u", run, items, winter_evening, per_user=2, v2=True)
    assert [(a.interest, a.item_id) for a in asks] == [("safe lab work", "c"), ("precise dosing", "b")]
    assert asks[0].situation == {"season": "winter", "time_of_day": "evening", "persona": "safe lab work"}
    # V1 sends no persona; a tag without an interest is explained for its category.
    v1 = asks_for("u", VariantRun(categories=["Tape"], llm=True), items, 0.0, per_user=2, v2=False)
    assert [(a.interest, a.item_id, a.situation) for a in v1] == [("Tape", "t", {})]


def test_a_v2_answer_that_fell_back_to_v1_tags_names_no_persona() -> None:
    run = VariantRun(
        categories=["Gloves"], llm=False, interests={"Gloves": "lab safety"}, path=persona_chain.V1_TAGS
    )
    (ask,) = asks_for("u", run, {"Gloves": "c"}, 0.0, per_user=2, v2=True)
    assert ask.situation == {} and ask.interest == "lab safety"
