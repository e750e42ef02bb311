"""The fallback template: only the item's own words, within the length bounds, grounded by construction."""

from __future__ import annotations

import pytest

from explain import fallback
from recgpt_domain.catalogue import Item
from recgpt_domain.grounding import CatalogueVocabulary, check
from tests.explain.catalogue import EPPENDORF, GORILLA, ITEMS


def test_brand_is_added_only_when_the_title_lacks_it() -> None:
    assert fallback.explanation("pipettes", EPPENDORF, 30, 200) == (
        "Matches your interest in pipettes: Eppendorf Research Plus Pipette, 100-1000 uL."
    )
    item = Item(item_id="x", title="Digital Caliper, 6 inch", brand="Neiko")
    assert fallback.explanation("measuring", item, 30, 200) == (
        "Matches your interest in measuring: Digital Caliper, 6 inch, by Neiko."
    )


@pytest.mark.parametrize(("max_words", "max_chars"), [(30, 200), (12, 80), (8, 60)])
def test_every_item_gets_a_grounded_sentence_within_bounds(max_words: int, max_chars: int) -> None:
    vocabulary = CatalogueVocabulary.from_items(ITEMS)
    interest = "durable workshop supplies for weekend woodworking and repair projects at home"
    for item in ITEMS:
        text = fallback.explanation(interest, item, max_words, max_chars)
        assert (
            check(text, item, vocabulary, interest=interest, max_words=max_words, max_chars=max_chars) == []
        )


def test_a_multi_sentence_title_is_cut_at_its_first_sentence() -> None:
    item = Item(item_id="m", title="Magnetic Viewing Film, 4 x 6. Learn Magnetism With It", brand="CMS")
    text = fallback.explanation("magnets", item, 30, 200)
    assert text == "Matches your interest in magnets: Magnetic Viewing Film, 4 x 6, by CMS."
    assert GORILLA.title not in text
