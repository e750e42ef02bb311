"""The rule-based grounding check on real-looking Amazon items: catches invented facts, few false alarms."""

from __future__ import annotations

import pytest

from recgpt_domain import grounding
from recgpt_domain.catalogue import Item
from recgpt_domain.grounding import CatalogueVocabulary, check
from tests.explain.catalogue import (
    CALIPER,
    EPPENDORF,
    GORILLA,
    HATCHBOX,
    HELPING_HAND,
    ITEMS,
    LOCTITE,
    PYREX,
)


@pytest.fixture(scope="module")
def vocabulary() -> CatalogueVocabulary:
    return CatalogueVocabulary.from_items(ITEMS)


@pytest.mark.parametrize(
    ("item", "text"),
    [
        (EPPENDORF, "This Eppendorf pipette handles 100 to 1000 uL, ideal for precise liquid handling."),
        (EPPENDORF, "A research-grade pipette with a spring-loaded tip cone for your lab work."),
        (EPPENDORF, "Covers 1,000 uL draws for your pipetting routine."),
        (PYREX, "A graduated 250 mL borosilicate beaker, great for mixing solutions."),
        (GORILLA, "Gorilla Glue's waterproof polyurethane formula bonds your woodworking repairs."),
        (LOCTITE, "Loctite's 0.14 oz gel control super glue suits small precision repairs."),
        # The item's own text names other brands: quoting it is grounded.
        (HATCHBOX, "Black PLA filament that works with MakerBot and FlashForge printers."),
        # "Precision" and "Grip" are brands of this catalogue but everyday words.
        (PYREX, "A precision beaker with a good grip for accurate lab measurements."),
        (CALIPER, "This Precision digital caliper measures 6 inch parts to support your machining hobby."),
        # Abbreviations, decimals and initials do not split a sentence.
        (LOCTITE, "Holds 0.14 oz of gel, e.g. for quick fixes on U.S. made models."),
        ("whitespace", "  A pipette for 100 uL samples.  \n"),
    ],
)
def test_grounded_texts_pass(vocabulary: CatalogueVocabulary, item: Item | str, text: str) -> None:
    target = EPPENDORF if isinstance(item, str) else item
    assert check(text, target, vocabulary) == []


def test_another_brand_of_the_catalogue_is_foreign(vocabulary: CatalogueVocabulary) -> None:
    assert check("A trusted Gilson pipette for your lab.", EPPENDORF, vocabulary) == ["foreign_brand"]
    assert check("As strong as GORILLA glue, for repairs.", LOCTITE, vocabulary) == ["foreign_brand"]


def test_brands_match_whole_words_only(vocabulary: CatalogueVocabulary) -> None:
    # "Gilsonite" and "pyrexia" contain brands but are other words.
    assert check("Handles gilsonite samples without pyrexia.", EPPENDORF, vocabulary) == []


def test_a_two_letter_brand_counts_only_as_written(vocabulary: CatalogueVocabulary) -> None:
    assert check("A fine pipette per se for your lab.", EPPENDORF, vocabulary) == []
    assert check("Pairs well with an SE helping hand.", EPPENDORF, vocabulary) == ["foreign_brand"]
    assert check("The SE helping hand steadies small parts.", HELPING_HAND, vocabulary) == []


def test_the_users_interest_may_name_a_brand(vocabulary: CatalogueVocabulary) -> None:
    text = "An alternative to Gorilla glue for quick bonds."
    assert check(text, LOCTITE, vocabulary) == ["foreign_brand"]
    assert check(text, LOCTITE, vocabulary, interest="Gorilla glue projects") == []


def test_a_category_the_item_is_not_in_is_foreign(vocabulary: CatalogueVocabulary) -> None:
    assert check("A pipette that doubles as one of your beakers.", EPPENDORF, vocabulary) == [
        "foreign_category"
    ]
    assert check("A strong urethane adhesive for wood.", LOCTITE, vocabulary) == ["foreign_category"]
    # On the item's own path (any level, singular or plural): grounded.
    assert check("One of the best pipettes in lab & scientific products.", EPPENDORF, vocabulary) == []
    assert check("A beaker for glassware & labware fans.", PYREX, vocabulary) == []


def test_a_number_the_item_does_not_hold_is_invented(vocabulary: CatalogueVocabulary) -> None:
    assert check("Holds up to 500 mL per draw.", EPPENDORF, vocabulary) == ["invented_number"]
    assert check("A 12 ounce bottle of waterproof glue.", GORILLA, vocabulary) == ["invented_number"]
    assert check("An 8 ounce bottle of waterproof glue.", GORILLA, vocabulary) == []
    assert check("A 1.75 mm filament on a 1 kg spool.", HATCHBOX, vocabulary) == []
    assert check("A 2.85 mm filament.", HATCHBOX, vocabulary) == ["invented_number"]


def test_length_and_sentence_bounds(vocabulary: CatalogueVocabulary) -> None:
    long_text = "A pipette " + "that is really very good " * 8 + "for you."
    assert "too_long" in check(long_text, EPPENDORF, vocabulary)
    assert check("A pipette for your lab.", EPPENDORF, vocabulary, max_chars=10) == ["too_long"]
    assert check("A pipette for your lab.", EPPENDORF, vocabulary, max_words=3) == ["too_long"]
    assert check("A great pipette. You will love it.", EPPENDORF, vocabulary) == ["not_one_sentence"]
    assert check("A great pipette! Buy it now.", EPPENDORF, vocabulary) == ["not_one_sentence"]
    assert check("A great pipette\nfor your lab.", EPPENDORF, vocabulary) == ["not_one_sentence"]


def test_empty_text_is_only_empty(vocabulary: CatalogueVocabulary) -> None:
    assert check("   \n", EPPENDORF, vocabulary) == ["empty"]


def test_problems_come_in_a_fixed_order(vocabulary: CatalogueVocabulary) -> None:
    text = "A Gilson beaker holding 5000 mL of water. Buy it."
    assert check(text, EPPENDORF, vocabulary) == [
        "not_one_sentence",
        "foreign_brand",
        "foreign_category",
        "invented_number",
    ]
    assert set(check(text, EPPENDORF, vocabulary)) <= set(grounding.PROBLEMS)


def test_vocabulary_leaves_out_everyday_words() -> None:
    vocabulary = CatalogueVocabulary.from_items(ITEMS)
    assert ("eppendorf",) in vocabulary.brands
    assert ("gilson",) in vocabulary.brands
    assert ("precision",) not in vocabulary.brands  # a listed everyday word
    assert ("pipette",) in vocabulary.categories  # plurals folded
    assert ("urethane", "adhesive") in vocabulary.categories


def test_a_brand_written_in_lower_case_by_other_items_is_an_everyday_word() -> None:
    tools = [
        Item(item_id=f"t{n}", title=f"Tool {n}", brand="Acme", description="Rubber handles for a firm clamp.")
        for n in range(3)
    ]
    clamp = Item(item_id="c1", title="Clamp Pro bar clamp", brand="Clamp", category_path=["Tools"])
    assert ("clamp",) not in CatalogueVocabulary.from_items([*tools, clamp]).brands
    assert ("clamp",) in CatalogueVocabulary.from_items([*tools[:2], clamp]).brands


def test_numbers_are_normalised() -> None:
    assert grounding.numbers("1,000 uL and 0.50 mL, 2.0 kg, 007") == {"1000", "0.5", "2", "7"}
    assert grounding.numbers("no digits") == set()


@pytest.mark.parametrize(
    ("text", "first"),
    [
        ("Great for printing. It is strong.", "Great for printing."),
        ("Fits your 2 in. x 50 yds. tape needs. Also good.", "Fits your 2 in. x 50 yds. tape needs."),
        ("One line\nanother line", "One line"),
        ("No end here", "No end here"),
    ],
)
def test_first_sentence(text: str, first: str) -> None:
    assert grounding.first_sentence(text) == first
