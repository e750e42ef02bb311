"""The templated simulated user: built from a real user's held-out next item, it describes that item's
attributes over several rounds (category, brand or decade, what on the page is not it, a few describing
words, its rating), and never names the item itself (no full title, no id)."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from recgpt_domain.catalogue import Item
from recgpt_domain.item_attributes import categories_of, year_of

_WORD = re.compile(r"[A-Za-z][A-Za-z-]{3,}")
# Some brand and category fields hold a paragraph: a user would not type it.
MAX_NAME_CHARS = 120
_SKIP = frozenset(
    {"with", "pack", "inch", "inches", "from", "this", "that", "count", "size", "for", "and", "the"}
)


@dataclass
class TemplatedUser:
    target: Item
    mean_rating: float | None
    issued: list[str] = field(default_factory=list)

    def command(self, round_number: int, page: Sequence[Item]) -> str:
        """The next command: the first attribute not yet described (the category and its decade, the brand
        or the other genres, what the page shows that is not it, a few words, the rating, the year)."""
        templates = (
            self._category,
            self._brand_or_genres,
            self._not_on_page,
            lambda page: self._keywords(0),
            self._rating,
            self._year,
            lambda page: self._keywords(2),
        )
        for template in templates:
            text = template(page)
            if text and text not in self.issued:
                self.issued.append(text)
                return text
        return "show me something else"

    def _category(self, page: Sequence[Item]) -> str:
        leaf = self.target.category if len(self.target.category) <= MAX_NAME_CHARS else ""
        year = year_of(self.target)
        if year is not None:
            return f"only {leaf} films from the {year // 10 * 10}s"
        return f"only {leaf}" if leaf else ""

    def _brand_or_genres(self, page: Sequence[Item]) -> str:
        if self.target.brand.strip() and len(self.target.brand) <= MAX_NAME_CHARS:
            return f"only {self.target.brand.strip()}"
        genres = [g for g in categories_of(self.target) if g not in self.target.category_path][:2]
        return f"more {' and '.join(genres)}" if genres else ""

    def _year(self, page: Sequence[Item]) -> str:
        year = year_of(self.target)
        return f"films from {year}" if year is not None else ""

    def _not_on_page(self, page: Sequence[Item]) -> str:
        wanted = set(categories_of(self.target))
        counts = Counter(c for item in page for c in categories_of(item)[1:] if c not in wanted)
        if not counts:
            return ""
        return f"no more {counts.most_common(1)[0][0]}"

    def _keywords(self, start: int) -> str:
        if year_of(self.target) is not None:
            match = re.search(r"Tags:\s*([^.]*)\.", self.target.description)
            tags = [t.strip() for t in match.group(1).split(",")][start : start + 2] if match else []
            return f"something {' and '.join(tags)}" if tags else ""
        brand = {w.casefold() for w in _WORD.findall(self.target.brand)}
        words = [
            w.casefold()
            for w in _WORD.findall(self.target.title)
            if w.casefold() not in _SKIP and w.casefold() not in brand
        ]
        chosen = list(dict.fromkeys(words))[start : start + 2]
        return f"something like {' '.join(chosen)}" if chosen else ""

    def _rating(self, page: Sequence[Item]) -> str:
        if self.mean_rating is None:
            return ""
        return "highly rated ones" if self.mean_rating >= 3.5 else ""
