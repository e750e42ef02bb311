"""Novelty of a click: the clicked item's fine category is not among the categories the user bought before."""

from __future__ import annotations

from pathlib import Path

from recgpt_domain.catalogue import iter_histories, read_items


class CategoryNovelty:
    """Built from a catalogue folder (items and behaviour), read once."""

    def __init__(self, catalogue_dir: Path) -> None:
        self.category = {
            item.item_id: item.category_path[-1] for item in read_items(catalogue_dir) if item.category_path
        }
        self.past: dict[str, set[str]] = {}
        for history in iter_histories(catalogue_dir):
            self.past[history.user_id] = {
                self.category[i.item_id] for i in history.interactions if i.item_id in self.category
            }

    def __call__(self, user_id: str, item_id: str) -> bool | None:
        category = self.category.get(item_id)
        past = self.past.get(user_id)
        if category is None or past is None:
            return None
        return category not in past
