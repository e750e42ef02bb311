"""A small lab catalogue shared by the agent services' tests (intent, tags): a few leaves under one parent
(microscopes, beakers, pipettes under lab products), others on their own, and one item without a category."""

from __future__ import annotations

from recgpt_domain.catalogue import Item

SCI = "Industrial & Scientific"
LAB = "Lab & Scientific Products"

ITEMS = [
    Item(item_id="m1", title="Compound light microscope with LED illumination", brand="AmScope",
         category_path=[SCI, LAB, "Microscopes"]),
    Item(item_id="m2", title="Digital USB microscope camera", brand="Celestron",
         category_path=[SCI, LAB, "Microscopes"]),
    Item(item_id="b1", title="Borosilicate glass beaker set, 250 ml", brand="Pyrex",
         category_path=[SCI, LAB, "Beakers"]),
    Item(item_id="p1", title="Adjustable volume micropipette, 10-100 ul", brand="Eppendorf",
         category_path=[SCI, LAB, "Pipettes"]),
    Item(item_id="g1", title="Super glue gel, clear, fast drying", brand="Gorilla",
         category_path=[SCI, "Tapes, Adhesives & Sealants", "Glues"]),
    Item(item_id="s1", title="Hook and loop sanding discs, 120 grit", brand="3M",
         category_path=[SCI, "Abrasive & Finishing Products", "Sanding Discs"]),
    Item(item_id="n1", title="Nitrile disposable gloves, box of 100", brand="Medline",
         category_path=[SCI, "Occupational Health & Safety Products", "Gloves"]),
    Item(item_id="t1", title="Digital multimeter voltage tester", brand="Fluke",
         category_path=[SCI, "Test, Measure & Inspect", "Multimeters"]),
    Item(item_id="f1", title="PLA 3D printer filament, 1.75 mm, 1 kg", brand="HATCHBOX",
         category_path=[SCI, "Additive Manufacturing Products", "3D Printing Filament"]),
]  # fmt: skip
# Left out of ITEMS (a category mapper is built from those): the tests that need it add it.
UNCATEGORISED = Item(item_id="x1", title="Mystery item without a category")
WITH_UNCATEGORISED = {item.item_id: item for item in [*ITEMS, UNCATEGORISED]}
