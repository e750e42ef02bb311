"""Splitting Amazon item text and inferring the category levels, on made-up catalogues and the real one."""

from __future__ import annotations

from pathlib import Path

from recgpt_domain.datasets import amazon_text

ROOT = "Industrial & Scientific"


def test_title_and_brand_may_contain_full_stops() -> None:
    text = (
        "100pc. #4 x 1/2 Brass Wood Screws. Industrial & Scientific Fasteners Screws Wood Screws. "
        "C. B. Gitty. "
    )
    parsed = amazon_text.parse_text(text, ROOT)
    assert parsed.title == "100pc. #4 x 1/2 Brass Wood Screws"
    assert parsed.brand == "C. B. Gitty"
    assert parsed.category_words == ("Fasteners", "Screws", "Wood", "Screws")


def test_a_title_that_starts_with_the_root_is_still_the_title() -> None:
    text = " Industrial & Scientific />. Industrial & Scientific Lab & Scientific Products Lab Tubes. SEOH. "
    parsed = amazon_text.parse_text(text, ROOT)
    assert parsed.title == "Industrial & Scientific />"
    assert parsed.brand == "SEOH"
    assert parsed.category_words == ("Lab", "&", "Scientific", "Products", "Lab", "Tubes")


def test_missing_category_and_missing_brand() -> None:
    no_category = amazon_text.parse_text("Ideal 2006S Crimp Connector (Pack of 100). . Ideal. ", ROOT)
    assert (no_category.title, no_category.brand, no_category.category_words) == (
        "Ideal 2006S Crimp Connector (Pack of 100)",
        "Ideal",
        None,
    )
    no_brand = amazon_text.parse_text("Glue. Industrial & Scientific Fasteners. . ", ROOT)
    assert (no_brand.title, no_brand.brand) == ("Glue", "")
    assert no_brand.category_words == ("Fasteners",)


def test_root_is_the_prefix_nearly_every_category_shares() -> None:
    texts = [
        "Pen. Office Products Writing Supplies Pens. Bic. ",
        "Stapler. Office Products Office Tools Staplers. Swingline. ",
        "Paper. Office Products Paper Printer Paper. HP. ",
        "Ink. Office Products Writing Supplies Ink. Pilot. ",
    ]
    assert amazon_text.infer_root(texts) == "Office Products"
    assert amazon_text.infer_root(["no structure here"]) is None


def _words(*paths: str) -> list[tuple[str, ...]]:
    return [tuple(path.split()) for path in paths]


def test_level2_from_an_other_catalogue() -> None:
    level2 = amazon_text.infer_level2(
        _words(
            "Writing Supplies",
            "Writing Supplies Pens Ballpoint Pens",
            "Writing Supplies Pencils",
            "Office Electronics Calculators",
            "Office Electronics Label Makers",
            "School & Office Supplies Binders",
            "School & Office Supplies Staplers Electric Staplers",
            "Furniture",
            "Furniture Chairs",
            "Furniture Desks Standing Desks",
        )
    )
    names = sorted(" ".join(level) for level in level2)
    assert names == ["Furniture", "Office Electronics", "School & Office Supplies", "Writing Supplies"]


def test_level2_never_ends_inside_an_ampersand_or_a_list() -> None:
    level2 = amazon_text.infer_level2(
        _words("Tapes, Adhesives & Sealants Glue", "Tapes, Adhesives & Sealants Tape")
    )
    assert level2 == {("Tapes,", "Adhesives", "&", "Sealants")}


def test_category_path_keeps_root_level2_and_the_rest() -> None:
    level2 = {("Cutting", "Tools"), ("Fasteners",)}
    assert amazon_text.category_path(ROOT, ("Cutting", "Tools", "Cutting", "Burs"), level2) == [
        ROOT,
        "Cutting Tools",
        "Cutting Burs",
    ]
    assert amazon_text.category_path(ROOT, ("Fasteners",), level2) == [ROOT, "Fasteners"]
    assert amazon_text.category_path(ROOT, (), level2) == [ROOT]


def test_level2_of_the_real_catalogue(amazon_dir: Path) -> None:
    lines = (amazon_dir / "Scientific.text").read_text().splitlines()[1:]
    texts = [line.split("\t")[1] for line in lines]
    root = amazon_text.infer_root(texts)
    assert root == ROOT
    parsed = [amazon_text.parse_text(text, root) for text in texts]
    level2 = {
        " ".join(level)
        for level in amazon_text.infer_level2(p.category_words for p in parsed if p.category_words)
    }
    assert len(level2) == 25
    assert {
        "Lab & Scientific Products",
        "Abrasive & Finishing Products",
        "Tapes, Adhesives & Sealants",
        "Test, Measure & Inspect",
        "Industrial Electrical",
        "Industrial Hardware",
        "Industrial Power & Hand Tools",
        "Material Handling Products",
        "Occupational Health & Safety Products",
        "Professional Dental Supplies",
        "Professional Medical Supplies",
        "Food Service Equipment & Supplies",
        "Fasteners",
    } <= level2
