"""Attribute filters and exclusions as one boolean mask over item rows (True = may be returned)."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Mapping

import numpy as np
import numpy.typing as npt

from recgpt.retrieval.v1 import retrieval_pb2
from retrieval.item_table import ItemTable, Rows

Mask = npt.NDArray[np.bool_]


def _union(index: Mapping[str, Rows], keys: Iterable[str], size: int) -> Mask:
    mask = np.zeros(size, dtype=np.bool_)
    for key in keys:
        rows = index.get(key.strip().casefold())
        if rows is not None:
            mask[rows] = True
    return mask


def is_empty(attribute_filter: retrieval_pb2.AttributeFilter) -> bool:
    return not (
        attribute_filter.categories
        or attribute_filter.brands
        or attribute_filter.exclude_categories
        or attribute_filter.exclude_brands
    )


def compile_filter(table: ItemTable, attribute_filter: retrieval_pb2.AttributeFilter) -> Mask:
    """Keep-lists intersect across attributes (category AND brand); drop-lists always win."""
    size = len(table)
    mask = np.ones(size, dtype=np.bool_)
    if attribute_filter.categories:
        mask &= _union(table.rows_by_category, attribute_filter.categories, size)
    if attribute_filter.brands:
        mask &= _union(table.rows_by_brand, attribute_filter.brands, size)
    if attribute_filter.exclude_categories:
        mask &= ~_union(table.rows_by_category, attribute_filter.exclude_categories, size)
    if attribute_filter.exclude_brands:
        mask &= ~_union(table.rows_by_brand, attribute_filter.exclude_brands, size)
    mask.setflags(write=False)
    return mask


class FilterCompiler:
    """Compiles filters into masks, keeping recent ones: RecBot repeats its constraints page after page."""

    def __init__(self, table: ItemTable, capacity: int = 256) -> None:
        self.table = table
        self.capacity = capacity
        self._cache: OrderedDict[bytes, Mask] = OrderedDict()

    def allowed(
        self, attribute_filter: retrieval_pb2.AttributeFilter, excluded_rows: Iterable[int]
    ) -> Mask | None:
        """The mask of rows that may be returned, or None when everything may."""
        excluded = np.fromiter(excluded_rows, dtype=np.int64)
        if is_empty(attribute_filter):
            if excluded.size == 0:
                return None
            mask = np.ones(len(self.table), dtype=np.bool_)
        else:
            mask = self._compiled(attribute_filter).copy()
        mask[excluded] = False
        return mask

    def _compiled(self, attribute_filter: retrieval_pb2.AttributeFilter) -> Mask:
        key = attribute_filter.SerializeToString(deterministic=True)
        mask = self._cache.get(key)
        if mask is None:
            mask = compile_filter(self.table, attribute_filter)
            self._cache[key] = mask
            while len(self._cache) > self.capacity:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(key)
        return mask
