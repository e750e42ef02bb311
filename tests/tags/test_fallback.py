"""The non-LLM tags: the user's most frequent categories."""

from __future__ import annotations

from recgpt_domain.behaviour_context import compress
from recgpt_domain.catalogue import Interaction
from tags.fallback import RATIONALE, frequent_category_tags
from tests.lab_catalogue import WITH_UNCATEGORISED as ITEMS_BY_ID


def history(*item_ids: str) -> list[Interaction]:
    return [Interaction(item_id=item) for item in item_ids]


def test_most_frequent_categories_first_without_uncategorised_items() -> None:
    context = compress(history("x1", "x1", "x1", "x1", "g1", "m1", "m2", "g1", "b1", "m1"), ITEMS_BY_ID)
    tags = frequent_category_tags(context, 2)
    assert [(t.tag, t.interest, t.category, t.category_score) for t in tags] == [
        ("Microscopes", "Microscopes", "Microscopes", 1.0),
        ("Glues", "Glues", "Glues", 1.0),
    ]
    assert {t.rationale for t in tags} == {RATIONALE}


def test_no_behaviour_gives_no_tags() -> None:
    assert frequent_category_tags(compress([], ITEMS_BY_ID), 5) == []
    assert frequent_category_tags(compress(history("x1"), ITEMS_BY_ID), 5) == []
