"""A small made-up catalogue for the training tests: categories, items, users with logs of several lengths."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from recgpt_domain.catalogue import CatalogueManifest, Interaction, Item, UserHistory
from recgpt_domain.category_map import CategoryMatch

CATEGORIES = [
    ("Lab & Scientific Products", "Lab Pipettes"),
    ("Lab & Scientific Products", "Beakers"),
    ("Occupational Health & Safety Products", "Nitrile Gloves"),
    ("Occupational Health & Safety Products", "Safety Glasses"),
    ("Additive Manufacturing Products", "3D Printer Filament"),
    ("Fasteners", "Screws"),
]


def items(copies: int = 4) -> list[Item]:
    """`copies` items per category; with more than 4, brands vary (Acme, Brand1, ...)."""
    out = []
    for index, (parent, leaf) in enumerate(CATEGORIES):
        for copy in range(copies):
            brand = "Acme" if copies <= 4 else ("Acme" if copy == 0 else f"Brand{copy % 12}")
            out.append(
                Item(
                    item_id=f"i{index}-{copy}",
                    title=f"{brand} {leaf} model {copy}",
                    brand=brand,
                    category_path=["Industrial & Scientific", parent, leaf],
                    description=f"A {leaf.lower()} for the lab.",
                )
            )
    return out


def histories(users: int = 60, copies: int = 4) -> list[UserHistory]:
    """User u walks the categories from u % 6, two items in each; lengths 1 to 6 interactions."""
    out = []
    for user in range(users):
        length = 1 + user % 6
        interactions = [
            Interaction(item_id=f"i{(user + step // 2) % len(CATEGORIES)}-{step % copies}", timestamp=step)
            for step in range(length)
        ]
        out.append(UserHistory(user_id=f"u{user:03d}", interactions=interactions))
    return out


def write(folder: Path, users: int = 60, copies: int = 4) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    listed = items(copies)
    logs = histories(users, copies)
    (folder / "items.jsonl").write_text("".join(item.model_dump_json() + "\n" for item in listed))
    (folder / "behaviour.jsonl").write_text("".join(log.model_dump_json() + "\n" for log in logs))
    manifest = CatalogueManifest(
        source="tests",
        source_format="made-up",
        items=len(listed),
        users=len(logs),
        interactions=sum(len(log.interactions) for log in logs),
        items_fingerprint="items",
        created_at_unix=0,
        behaviour_fingerprint="behaviour",
    )
    (folder / "manifest.json").write_text(json.dumps(manifest.model_dump()))
    return folder


class ExactMapper:
    """A category mapper for tests: a tag naming a category's leaf maps to it confidently, others do not."""

    def map(self, texts: Sequence[str]) -> list[CategoryMatch]:
        out = []
        for text in texts:
            found = next((leaf for _, leaf in CATEGORIES if leaf.casefold() in text.casefold()), None)
            out.append(CategoryMatch(found or "Screws", 0.9 if found else 0.1))
        return out


class NearLeaves:
    """Categories nearest a text, for tests: the leaves it names first, then the rest, in catalogue order."""

    def nearest(self, texts: Sequence[str], count: int) -> list[list[str]]:
        leaves = [leaf for _, leaf in CATEGORIES]
        return [
            sorted(leaves, key=lambda leaf: leaf.casefold() not in text.casefold())[:count] for text in texts
        ]
