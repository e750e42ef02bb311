"""The attributes a RecBot hard constraint can check, read once from a catalogue folder.

Categories are every level of an item's path plus MovieLens genres (its description lists them); the year
and the mean rating exist only where the catalogue has them (MovieLens titles and ratings; Amazon has
neither), and a constraint on an attribute the catalogue lacks is dropped by the parser, never applied.
The parser (vocabulary) and the filter (masks) read the same table, so they agree on every name.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from recgpt_domain.catalogue import BEHAVIOUR_FILE, Item, iter_histories, read_items

_GENRES = re.compile(r"Genres:\s*([^.]*)\.")
_YEAR_IN_DESCRIPTION = re.compile(r"Year:\s*(\d{4})\b")
_YEAR_IN_TITLE = re.compile(r"\((\d{4})\)\s*$")
NUMERIC_FIELDS = ("year", "rating")


def key(name: str) -> str:
    """How names compare: case-folded, spaces collapsed."""
    return " ".join(name.casefold().split())


def categories_of(item: Item) -> list[str]:
    """Every category level of the item, and its genres where the description lists them."""
    names = [level for level in item.category_path if level.strip()]
    match = _GENRES.search(item.description)
    if match:
        names += [genre.strip() for genre in match.group(1).split(",") if genre.strip()]
    return list(dict.fromkeys(names))


def year_of(item: Item) -> int | None:
    match = _YEAR_IN_DESCRIPTION.search(item.description) or _YEAR_IN_TITLE.search(item.title)
    return int(match.group(1)) if match else None


@dataclass
class ItemAttributes:
    """Per item: categories (case-folded), brand (case-folded), year and mean rating where known."""

    item_ids: list[str]
    categories: list[frozenset[str]]
    brands: list[str]
    years: list[int | None]
    ratings: list[float | None]
    # Canonical spelling of every category and brand, by key.
    category_names: dict[str, str] = field(default_factory=dict)
    brand_names: dict[str, str] = field(default_factory=dict)

    @property
    def numeric_fields(self) -> frozenset[str]:
        """The numeric attributes this catalogue has for at least one item."""
        present = set()
        if any(year is not None for year in self.years):
            present.add("year")
        if any(rating is not None for rating in self.ratings):
            present.add("rating")
        return frozenset(present)


def mean_ratings(folder: Path) -> dict[str, float]:
    """Each item's mean explicit rating over the behaviour log (empty where the source has none)."""
    sums: dict[str, float] = defaultdict(float)
    counts: dict[str, int] = defaultdict(int)
    if not (folder / BEHAVIOUR_FILE).is_file():
        return {}
    for history in iter_histories(folder):
        for interaction in history.interactions:
            if interaction.rating is not None and interaction.rating > 0:
                sums[interaction.item_id] += interaction.rating
                counts[interaction.item_id] += 1
    return {item_id: sums[item_id] / counts[item_id] for item_id in sums}


def build(items: Sequence[Item], ratings: dict[str, float]) -> ItemAttributes:
    attributes = ItemAttributes([], [], [], [], [])
    for item in items:
        names = categories_of(item)
        for name in names:
            attributes.category_names.setdefault(key(name), name.strip())
        if item.brand.strip():
            attributes.brand_names.setdefault(key(item.brand), item.brand.strip())
        attributes.item_ids.append(item.item_id)
        attributes.categories.append(frozenset(key(name) for name in names))
        attributes.brands.append(key(item.brand))
        attributes.years.append(year_of(item))
        attributes.ratings.append(ratings.get(item.item_id))
    return attributes


def load(folder: Path, items: Iterable[Item] | None = None) -> ItemAttributes:
    """The attributes of a catalogue folder's items (given, or read from the folder), in catalogue order."""
    listed = list(items) if items is not None else read_items(folder)
    return build(listed, mean_ratings(folder))
