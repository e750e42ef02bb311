"""A small Amazon-like catalogue for the explain and judge tests: real-looking titles, brands and paths."""

from __future__ import annotations

from recgpt_domain.catalogue import Item

LAB = ["Industrial & Scientific", "Lab & Scientific Products"]
ADHESIVES = ["Industrial & Scientific", "Tapes, Adhesives & Sealants"]

EPPENDORF = Item(
    item_id="B000EPPEND",
    title="Eppendorf Research Plus Pipette, 100-1000 uL",
    brand="Eppendorf",
    category_path=[*LAB, "Pipettes"],
    description="Single-channel adjustable-volume pipette with a spring-loaded tip cone.",
)
GILSON = Item(
    item_id="B000GILSON",
    title="Gilson Pipetman Classic P200 Pipette, 20-200 uL",
    brand="Gilson",
    category_path=[*LAB, "Pipettes"],
)
PYREX = Item(
    item_id="B000PYREX1",
    title="Pyrex 1000 Griffin Low Form Beaker, 250 mL",
    brand="Pyrex",
    category_path=[*LAB, "Glassware & Labware", "Beakers"],
    description="Graduated borosilicate glass beaker with a spout.",
)
GORILLA = Item(
    item_id="B0000223UV",
    title="Gorilla Original Gorilla Glue, Waterproof Polyurethane Glue, 8 ounce Bottle, Brown",
    brand="Gorilla",
    category_path=[*ADHESIVES, "Urethane Adhesives"],
    description="The water activated polyurethane formula expands into materials to form a strong bond.",
)
LOCTITE = Item(
    item_id="B000LOCTIT",
    title="Loctite Super Glue Gel Control, 0.14 oz",
    brand="Loctite",
    category_path=[*ADHESIVES, "Cyanoacrylate Adhesives"],
)
HATCHBOX = Item(
    item_id="B00J0GMMP6",
    title="HATCHBOX PLA 3D Printer Filament, Dimensional Accuracy +/- 0.03 mm, 1 kg Spool, 1.75 mm, Black",
    brand="HATCHBOX",
    category_path=[
        "Industrial & Scientific",
        "Additive Manufacturing Products",
        "3D Printing Supplies 3D Printing Filament",
    ],
    description="Works with MakerBot, FlashForge and most FDM printers; low odor and minimal warping.",
)
HELPING_HAND = Item(
    item_id="B000SEHAND",
    title="SE MH1047L Helping Hand with Magnifying Glass",
    brand="SE",
    category_path=["Industrial & Scientific", "Test, Measure & Inspect", "Magnifiers"],
)
CALIPER = Item(
    item_id="B000PRECIS",
    title="Digital Caliper, 6 inch, Stainless Steel",
    brand="Precision",
    category_path=["Industrial & Scientific", "Test, Measure & Inspect", "Calipers"],
    description="A precision measuring tool with a large LCD screen.",
)
GRIP_PLIERS = Item(
    item_id="B000GRIP01",
    title="Grip 8 inch Slip Joint Pliers",
    brand="Grip",
    category_path=["Industrial & Scientific", "Industrial Power & Hand Tools", "Pliers"],
    description="Textured handles give a firm grip.",
)

ITEMS = [EPPENDORF, GILSON, PYREX, GORILLA, LOCTITE, HATCHBOX, HELPING_HAND, CALIPER, GRIP_PLIERS]
BY_ID = {item.item_id: item for item in ITEMS}
