"""Small hand-made catalogue folders in the canonical format, for the retrieval tests."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

from recgpt_domain.catalogue import (
    BEHAVIOUR_FILE,
    ITEMS_FILE,
    MANIFEST_FILE,
    CatalogueManifest,
    Interaction,
    Item,
    UserHistory,
    fingerprint,
)

SCI = "Industrial & Scientific"
LAB = "Lab & Scientific Products"

ITEMS = [
    Item(item_id="m1", title="Compound light microscope with LED illumination", brand="AmScope",
         category_path=[SCI, LAB, "Microscopes"]),
    Item(item_id="m2", title="Digital USB microscope camera", brand="Celestron",
         category_path=[SCI, LAB, "Microscopes"]),
    Item(item_id="g1", title="Super glue gel, clear, fast drying", brand="Gorilla",
         category_path=[SCI, "Tapes, Adhesives & Sealants", "Glues"]),
    Item(item_id="g2", title="Waterproof polyurethane glue bottle", brand="Gorilla",
         category_path=[SCI, "Tapes, Adhesives & Sealants", "Glues"]),
    Item(item_id="s1", title="Adhesive-backed sanding roll, 80 grit", brand="PORTER-CABLE",
         category_path=[SCI, "Abrasive & Finishing Products", "Sanding Rolls"]),
    Item(item_id="s2", title="Hook and loop sanding discs, 120 grit", brand="3M",
         category_path=[SCI, "Abrasive & Finishing Products", "Sanding Discs"]),
    Item(item_id="b1", title="Borosilicate glass beaker set, 250 ml", brand="Pyrex",
         category_path=[SCI, LAB, "Beakers"]),
    Item(item_id="b2", title="Plastic graduated beaker, 1000 ml", brand="Kartell",
         category_path=[SCI, LAB, "Beakers"]),
    Item(item_id="t1", title="Digital multimeter voltage tester", brand="Fluke",
         category_path=[SCI, "Test, Measure & Inspect", "Multimeters"]),
    Item(item_id="t2", title="Infrared thermometer gun for cooking and industry", brand="Etekcity",
         category_path=[SCI, "Test, Measure & Inspect", "Thermometers"]),
    Item(item_id="p1", title="Nitrile disposable gloves, box of 100", brand="Medline",
         category_path=[SCI, "Safety", "Gloves"]),
    Item(item_id="p2", title="Anti-fog safety goggles", brand="3M",
         category_path=[SCI, "Safety", "Eye Protection"]),
]  # fmt: skip

# Microscope buyers go on to beakers (b1 right after m1 three times), glue buyers to sanding rolls;
# s1 is the most popular item overall.
SEQUENCES = {
    "u1": ["m1", "b1", "t1"],
    "u2": ["m1", "b1", "p1"],
    "u3": ["m1", "b1"],
    "u4": ["g1", "s1", "s2"],
    "u5": ["g1", "s1"],
    "u6": ["g2", "s1", "p2"],
    "u7": ["s1", "t2"],
    "u8": ["m2", "b2", "s1"],
}


def histories(sequences: dict[str, list[str]]) -> list[UserHistory]:
    return [
        UserHistory(
            user_id=user,
            interactions=[
                Interaction(item_id=item, timestamp=1_000 + step) for step, item in enumerate(items)
            ],
        )
        for user, items in sequences.items()
    ]


def write_catalogue(folder: Path, items: Sequence[Item], users: Sequence[UserHistory]) -> Path:
    """Writes items.jsonl, behaviour.jsonl and manifest.json the way the importer does."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / ITEMS_FILE).write_text("".join(item.model_dump_json() + "\n" for item in items))
    (folder / BEHAVIOUR_FILE).write_text("".join(user.model_dump_json() + "\n" for user in users))
    manifest = CatalogueManifest(
        source="hand-made",
        source_format="test",
        items=len(items),
        users=len(users),
        interactions=sum(len(user.interactions) for user in users),
        items_fingerprint=fingerprint(folder / ITEMS_FILE),
        created_at_unix=int(time.time()),
    )
    (folder / MANIFEST_FILE).write_text(manifest.model_dump_json())
    return folder


def write_small_catalogue(folder: Path) -> Path:
    return write_catalogue(folder, ITEMS, histories(SEQUENCES))
