"""Item attributes as arrays over retrieval's rows, so that a hard constraint is one vectorised mask."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from recgpt_domain import item_attributes
from recgpt_domain.catalogue import Item
from retrieval.item_table import ItemTable


@dataclass(frozen=True)
class FeedAttributes:
    attributes: item_attributes.ItemAttributes
    rows_by_category: dict[str, npt.NDArray[np.int64]]
    rows_by_brand: dict[str, npt.NDArray[np.int64]]
    # NaN where unknown.
    years: npt.NDArray[np.float64]
    ratings: npt.NDArray[np.float64]

    @property
    def size(self) -> int:
        return int(self.years.size)

    @classmethod
    def load(cls, table: ItemTable, catalogue_dir: Path) -> FeedAttributes:
        items = [
            Item(
                item_id=m.item_id,
                title=m.title,
                brand=m.brand,
                category_path=list(m.category_path),
                description=m.description,
            )
            for m in table.messages
        ]
        return cls.build(item_attributes.load(catalogue_dir, items))

    @classmethod
    def build(cls, attributes: item_attributes.ItemAttributes) -> FeedAttributes:
        by_category: dict[str, list[int]] = {}
        by_brand: dict[str, list[int]] = {}
        for row, (categories, brand) in enumerate(zip(attributes.categories, attributes.brands, strict=True)):
            for category in categories:
                by_category.setdefault(category, []).append(row)
            if brand:
                by_brand.setdefault(brand, []).append(row)
        return cls(
            attributes=attributes,
            rows_by_category={k: np.asarray(v, dtype=np.int64) for k, v in by_category.items()},
            rows_by_brand={k: np.asarray(v, dtype=np.int64) for k, v in by_brand.items()},
            years=np.asarray([np.nan if y is None else y for y in attributes.years], dtype=np.float64),
            ratings=np.asarray([np.nan if r is None else r for r in attributes.ratings], dtype=np.float64),
        )
