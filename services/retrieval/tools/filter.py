"""Filter tool: hard constraints as a mask. An item that violates one is never ranked, whatever its score.

Positives: within a field any listed value (category at any level, brand, item), every numeric bound (an
item without the attribute fails it); across fields all. Negatives: an item matching any one is dropped.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from recgpt_domain.item_attributes import key
from recgpt_domain.preferences import Constraint, Preferences
from retrieval.tools.attributes import FeedAttributes
from retrieval.tools.base import Mask, PlanState
from retrieval.tools.registry import register


def _rows(attributes: FeedAttributes, constraint: Constraint, row_of: dict[str, int]) -> Mask:
    mask = np.zeros(attributes.size, dtype=np.bool_)
    if constraint.field == "category":
        rows = attributes.rows_by_category.get(key(constraint.value))
    elif constraint.field == "brand":
        rows = attributes.rows_by_brand.get(key(constraint.value))
    else:
        row = row_of.get(constraint.value)
        rows = None if row is None else np.asarray([row], dtype=np.int64)
    if rows is not None:
        mask[rows] = True
    return mask


def _bound(attributes: FeedAttributes, constraint: Constraint) -> Mask:
    values = attributes.years if constraint.field == "year" else attributes.ratings
    try:
        limit = float(constraint.value)
    except ValueError:
        return np.zeros(attributes.size, dtype=np.bool_)
    with np.errstate(invalid="ignore"):
        return values >= limit if constraint.op == "gte" else values <= limit


def hard_mask(
    attributes: FeedAttributes,
    positives: Sequence[Constraint],
    negatives: Sequence[Constraint],
    row_of: dict[str, int],
) -> Mask:
    mask = np.ones(attributes.size, dtype=np.bool_)
    by_field: dict[str, Mask] = {}
    for constraint in positives:
        if constraint.field in ("year", "rating"):
            mask &= _bound(attributes, constraint)
        else:
            found = _rows(attributes, constraint, row_of)
            by_field[constraint.field] = by_field.get(constraint.field, found) | found
    for field_mask in by_field.values():
        mask &= field_mask
    for constraint in negatives:
        if constraint.field in ("year", "rating"):
            mask &= ~_bound(attributes, constraint)
        else:
            mask &= ~_rows(attributes, constraint, row_of)
    return mask


class FilterTool:
    name = "filter"
    stage = 10

    def needed(self, preferences: Preferences) -> bool:
        return bool(preferences.hard_positive or preferences.hard_negative)

    async def run(self, state: PlanState) -> dict[str, str]:
        prefs = state.preferences
        mask = hard_mask(
            state.attributes, prefs.hard_positive, prefs.hard_negative, state.retriever.table.row_of
        )
        state.allowed &= mask
        return {
            "hard_positive": "; ".join(f"{c.field} {c.op} {c.value}" for c in prefs.hard_positive),
            "hard_negative": "; ".join(f"{c.field} {c.op} {c.value}" for c in prefs.hard_negative),
            "items_passing": str(int(mask.sum())),
        }


register(FilterTool())
