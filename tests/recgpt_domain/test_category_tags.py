"""The tag naming each category: the SFT targets and the ranking mode both use it."""

from __future__ import annotations

from recgpt_domain.catalogue import Item
from recgpt_domain.category_tags import category_tags, shape_problem, tag_text


def test_one_word_categories_become_tags_the_validator_accepts() -> None:
    parents = {"Screws": "Fasteners", "Lab Pipettes": "Lab & Scientific Products"}
    assert tag_text("Lab Pipettes", parents) == "Lab Pipettes"
    screws = tag_text("Screws", parents)
    assert screws == "Fasteners Screws" and shape_problem(screws) is None
    assert tag_text("", parents) is None
    long = tag_text("Wiring & Connecting Terminals Butt Splice Connectors Heat Shrink", parents)
    assert long is not None and len(long) <= 40 and shape_problem(long) is None


def test_category_tags_name_every_category_by_its_most_frequent_parent() -> None:
    items = [
        Item(item_id="a", title="wood screw", category_path=["Tools", "Fasteners", "Screws"]),
        Item(item_id="b", title="deck screw", category_path=["Tools", "Fasteners", "Screws"]),
        Item(item_id="c", title="odd screw", category_path=["Tools", "Hardware", "Screws"]),
        Item(item_id="d", title="pipette", category_path=["Lab", "Lab Pipettes"]),
        Item(item_id="e", title="no category", category_path=[]),
    ]
    assert category_tags(items) == {"Screws": "Fasteners Screws", "Lab Pipettes": "Lab Pipettes"}


def test_long_leaves_sharing_a_start_keep_distinct_tags() -> None:
    """The catalogue's leaves run from the general to the specific: their tags keep the specific end."""
    start = "Vacuums & Floor Cleaning Machines Vacuum Parts & Accessories"
    specific = ["", " Vacuum Bags", " Vacuum Bags Upright Bags", " Wet-Dry Accessories"]
    leaves = [f"{start}{end}" for end in specific]
    parents = dict.fromkeys(leaves, "Janitorial")
    tags = [tag_text(leaf, parents) for leaf in leaves]
    assert len(set(tags)) == len(leaves)
    for tag in tags:
        assert tag is not None and len(tag) <= 40 and shape_problem(tag) is None and not tag.startswith("&")
    assert tags[2] is not None and tags[2].endswith("Vacuum Bags Upright Bags")
