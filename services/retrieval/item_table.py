"""The catalogue as the service holds it: row numbers, ready-made protobuf items and attribute look-ups."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence

import numpy as np
import numpy.typing as npt

from recgpt.common.v1 import common_pb2
from recgpt_domain.catalogue import Item
from recgpt_domain.towers.ranker import category_ids

Rows = npt.NDArray[np.int64]


def _rows(values: list[int]) -> Rows:
    array = np.asarray(values, dtype=np.int64)
    array.setflags(write=False)
    return array


class ItemTable:
    """Items by row (the row is the item's position in the FAISS index), built once at load."""

    def __init__(self, items: Sequence[Item]) -> None:
        self.ids: list[str] = [item.item_id for item in items]
        self.row_of: dict[str, int] = {}
        for row, item_id in enumerate(self.ids):
            if item_id in self.row_of:
                raise ValueError(f"duplicate item id in catalogue: {item_id!r}")
            self.row_of[item_id] = row
        # Built once so that a response copies messages instead of constructing them.
        self.messages: list[common_pb2.Item] = [
            common_pb2.Item(
                item_id=item.item_id,
                title=item.title,
                brand=item.brand,
                category_path=item.category_path,
                description=item.description,
            )
            for item in items
        ]
        by_category: dict[str, list[int]] = defaultdict(list)
        by_brand: dict[str, list[int]] = defaultdict(list)
        for row, item in enumerate(items):
            for level in {level.strip().casefold() for level in item.category_path}:
                if level:
                    by_category[level].append(row)
            brand = item.brand.strip().casefold()
            if brand:
                by_brand[brand].append(row)
        self.rows_by_category = {key: _rows(rows) for key, rows in by_category.items()}
        # Each row's most specific category as an id: what the ranker's category features compare.
        self.category_ids = category_ids([item.category for item in items])
        self.rows_by_brand = {key: _rows(rows) for key, rows in by_brand.items()}

    def __len__(self) -> int:
        return len(self.ids)

    def rows_for(self, item_ids: Iterable[str]) -> list[int]:
        """Rows of the known ids, in the given order, unknown ids left out."""
        row_of = self.row_of
        return [row_of[item_id] for item_id in item_ids if item_id in row_of]
