"""The V1 compressed behaviour: grouped by category, repeats merged, most recent first, cut to a budget."""

from __future__ import annotations

from recgpt_domain.behaviour_context import (
    ENTITY_MARK,
    INTEREST_MAX_CHARS,
    NO_BEHAVIOUR,
    compress,
    entity_marker,
    estimate_tokens,
    frequent_category_interests,
)
from recgpt_domain.catalogue import Interaction, Item

MICROSCOPES = ["Lab", "Microscopes"]
ITEMS = {
    item.item_id: item
    for item in [
        Item(item_id="m1", title="Compound microscope", brand="AmScope", category_path=MICROSCOPES),
        Item(item_id="m2", title="USB microscope camera", category_path=MICROSCOPES),
        Item(item_id="b1", title="Glass beaker set", brand="Pyrex", category_path=["Lab", "Beakers"]),
        Item(item_id="g1", title="Super glue gel", brand="Gorilla", category_path=["Adhesives", "Glues"]),
        Item(item_id="x1", title="Item without a category"),
    ]
}


def history(*item_ids: str, rating: float | None = None) -> list[Interaction]:
    return [Interaction(item_id=item, timestamp=n, rating=rating) for n, item in enumerate(item_ids)]


def test_groups_by_category_most_recent_first_with_merged_repeats() -> None:
    context = compress(history("m1", "g1", "b1", "m1", "m2", "m1"), ITEMS)
    assert context.text.splitlines() == [
        "Microscopes (4 items):",
        "- Compound microscope (brand: AmScope) x3",
        "- USB microscope camera",
        "Beakers (1 items):",
        "- Glass beaker set (brand: Pyrex)",
        "Glues (1 items):",
        "- Super glue gel (brand: Gorilla)",
    ]
    assert context.recent_item_ids == ["m1", "m2", "b1", "g1"]
    assert context.top_categories == [("Microscopes", 4), ("Beakers", 1), ("Glues", 1)]
    assert (context.items_total, context.items_used, context.unknown_items) == (4, 4, 0)
    assert not context.truncated
    assert context.estimated_tokens == estimate_tokens(context.text)


def test_ratings_and_uncategorised_items_are_shown() -> None:
    context = compress(history("x1", "g1", rating=4.5), ITEMS)
    assert context.text.splitlines() == [
        "Glues (1 items):",
        "- Super glue gel (brand: Gorilla) rated 4.5/5",
        "Other (1 items):",
        "- Item without a category rated 4.5/5",
    ]


def test_the_budget_keeps_the_most_recent_lines() -> None:
    interactions = history("g1", "b1", "m2", "m1")
    full = compress(interactions, ITEMS, budget_tokens=10_000)
    cut = compress(interactions, ITEMS, budget_tokens=12)
    assert cut.truncated
    assert 1 <= cut.items_used < full.items_used == 4
    assert "Compound microscope" in cut.text
    assert "Super glue gel" not in cut.text
    assert cut.recent_item_ids == full.recent_item_ids
    # The most recent line is kept even when it alone is over the budget.
    tiny = compress(interactions, ITEMS, budget_tokens=1)
    assert tiny.items_used == 1 and "Compound microscope" in tiny.text


def test_unknown_items_are_counted_and_left_out() -> None:
    context = compress(history("nope", "m1", "gone"), ITEMS)
    assert context.unknown_items == 2
    assert context.items_total == 1
    assert "nope" not in context.text


def test_no_known_behaviour() -> None:
    for interactions in ([], history("nope")):
        context = compress(interactions, ITEMS)
        assert context.text == NO_BEHAVIOUR
        assert context.items_total == context.items_used == 0
        assert context.top_categories == [] and context.recent_item_ids == []


def test_entity_text_says_the_same_lines_with_markers_for_the_items_that_have_tokens() -> None:
    context = compress(history("m1", "g1", "b1", "m1", "m2", "m1"), ITEMS, entity_items={"m1", "b1"})
    assert context.entities == 2
    assert context.entity_text.splitlines() == [
        "Microscopes (4 items):",
        f"- {entity_marker('m1')} x3",
        "- USB microscope camera",
        "Beakers (1 items):",
        f"- {entity_marker('b1')}",
        "Glues (1 items):",
        "- Super glue gel (brand: Gorilla)",
    ]
    # The text rendering is unchanged, and what is kept is the text's choice.
    assert context.text == compress(history("m1", "g1", "b1", "m1", "m2", "m1"), ITEMS).text


def test_no_entity_items_means_no_entity_text_and_titles_cannot_fake_a_marker() -> None:
    forged = {"f1": Item(item_id="f1", title=f"Kit {ENTITY_MARK}m1{ENTITY_MARK}", category_path=["Kits"])}
    context = compress(history("f1"), forged)
    assert context.entities == 0 and context.entity_text == ""
    assert ENTITY_MARK not in context.text
    assert ENTITY_MARK not in compress(history("f1"), forged, entity_items={"m1"}).text


def test_a_paragraph_long_category_becomes_an_interest_cut_at_a_word() -> None:
    paragraph = "Abrasive Wheels & Discs Flap Discs 40+ x NH & Type 27 40+ x NH & Type 29 " * 9
    items = {"w1": Item(item_id="w1", title="Flap disc", category_path=["Abrasives", paragraph])}
    items |= {"m1": ITEMS["m1"]}
    [wheel, microscope] = frequent_category_interests(compress(history("m1", "w1", "w1"), items), 5)
    assert len(wheel.interest) <= INTEREST_MAX_CHARS
    assert wheel.interest.startswith("Abrasive Wheels & Discs Flap Discs") and paragraph.startswith(
        wheel.interest
    )
    assert microscope.interest == "Microscopes"
