"""The evaluation's own check of hard constraints on returned items, written apart from retrieval's filter
so that a bug there shows here as a violation."""

from __future__ import annotations

from recgpt_domain.catalogue import Item
from recgpt_domain.item_attributes import categories_of, year_of
from recgpt_domain.preferences import Constraint, Preferences


def _matches(item: Item, constraint: Constraint, rating: float | None) -> bool:
    value = constraint.value.casefold().strip()
    if constraint.field == "category":
        return value in {c.casefold().strip() for c in categories_of(item)}
    if constraint.field == "brand":
        return item.brand.casefold().strip() == value
    if constraint.field == "item":
        return item.item_id == constraint.value
    number = year_of(item) if constraint.field == "year" else rating
    if number is None:
        return False
    limit = float(constraint.value)
    return number >= limit if constraint.op == "gte" else number <= limit


def violations(item: Item, preferences: Preferences, rating: float | None) -> list[str]:
    """The hard constraints the item breaks."""
    broken = []
    by_field: dict[str, list[Constraint]] = {}
    for constraint in preferences.hard_positive:
        if constraint.field in ("year", "rating"):
            if not _matches(item, constraint, rating):
                broken.append(f"{constraint.field} {constraint.op} {constraint.value}")
        else:
            by_field.setdefault(constraint.field, []).append(constraint)
    for field_name, listed in by_field.items():
        if not any(_matches(item, c, rating) for c in listed):
            broken.append(f"{field_name} not in {[c.value for c in listed]}")
    for constraint in preferences.hard_negative:
        if constraint.field in ("year", "rating"):
            if _matches(item, constraint, rating):
                broken.append(f"not {constraint.field} {constraint.op} {constraint.value}")
        elif _matches(item, constraint, rating):
            broken.append(f"{constraint.field} = {constraint.value}")
    return broken
