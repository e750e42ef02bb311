"""The environment block RecGPT-V2's planner reads beside the behaviour: the date, its season, and what the
shop's users took most over the last days.

Trends are counted once from the behaviour log the platform serves (held-out items are not in it), over the
`days` before its latest interaction: on a replayed dataset "now" is the log's end, not the wall clock.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from recgpt_domain.catalogue import Item, UserHistory

DAY_S = 86_400
# Northern-hemisphere meteorological seasons by month.
_SEASONS = {12: "winter", 1: "winter", 2: "winter", 3: "spring", 4: "spring", 5: "spring"}
_SEASONS |= {6: "summer", 7: "summer", 8: "summer", 9: "autumn", 10: "autumn", 11: "autumn"}


def season(moment: datetime) -> str:
    return _SEASONS[moment.month]


@dataclass(frozen=True)
class Trends:
    """The categories taken most in the last `days` of the log, most first, and when the log ends."""

    categories: list[str] = field(default_factory=list)
    log_end_unix: int = 0
    days: int = 0

    @classmethod
    def count(
        cls, histories: Iterable[UserHistory], items: Mapping[str, Item], days: int, top: int
    ) -> Trends:
        """Two passes over the interactions kept in memory (timestamps and categories only)."""
        stamped = [
            (interaction.timestamp, item.category)
            for history in histories
            for interaction in history.interactions
            if (item := items.get(interaction.item_id)) is not None and item.category
        ]
        if not stamped:
            return cls(days=days)
        end = max(timestamp for timestamp, _ in stamped)
        since = end - days * DAY_S
        counts = Counter(category for timestamp, category in stamped if timestamp > since)
        ranked = sorted(counts.items(), key=lambda pair: (-pair[1], pair[0]))
        return cls([category for category, _ in ranked[:top]], end, days)


def environment_text(as_of_unix: int, trends: Trends, attributes: Mapping[str, str]) -> str:
    """A few lines: date and season, trending categories, and the user's attributes when there are any."""
    moment = datetime.fromtimestamp(as_of_unix, UTC)
    lines = [f"Date: {moment.date().isoformat()} ({season(moment)})"]
    if trends.categories:
        lines.append(f"Trending in the shop over the last {trends.days} days: {', '.join(trends.categories)}")
    known = {key.strip(): value.strip() for key, value in attributes.items() if key.strip() and value.strip()}
    if known:
        lines.append("Customer: " + "; ".join(f"{key}: {value}" for key, value in sorted(known.items())))
    return "\n".join(lines)
