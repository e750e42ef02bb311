"""The catalogue names a command can mention, as word sequences: every category level (and genre), brand.

Built once from the catalogue's attributes. Names are compared by their words (case-folded, "&" read as
"and", punctuation dropped), with a trailing plural "s" optional, so "no more tapes" finds the category
"Tape". Brands that are ordinary words or too short to be told from one are left out: a rule must be
right when it fires.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field

from recgpt_domain.item_attributes import ItemAttributes

# A decimal number ("3.5") is one word; "1990s" and "don't" too.
WORD = re.compile(r"\d+(?:\.\d+)?(?![^\W_])|[^\W_]+(?:['\u2019][^\W_]+)?", re.UNICODE)


def wordset(text: str) -> frozenset[str]:
    """The words of a text block, for the word lists of the parser's rules."""
    return frozenset(text.split())


# Words that are never a brand on their own, however a catalogue spells its brands.
COMMON_WORDS = wordset(
    """
    a an and any are as at be but by for from in into is it me more my no not of on one only or other
    show some that the them these this those to up with without want like less new old good best great
    generic unknown none na n/a brand products product items item stuff things thing lab home pro plus
    max mini best basic standard classic original premium select
    """
)
# Amazon's deepest category names run to a dozen words ("Lab Instruments & Equipment Gas Handling ...").
MAX_NAME_WORDS = 16


def words(text: str) -> list[str]:
    return WORD.findall(text.casefold().replace("&", " and "))


def _variants(tokens: tuple[str, ...]) -> list[tuple[str, ...]]:
    """The name's words, and with its last word's plural "s" added or removed."""
    last = tokens[-1]
    out = [tokens]
    if len(last) > 4 and last.endswith("ies"):
        out.append((*tokens[:-1], last[:-3] + "y"))
    elif len(last) > 3 and last.endswith("y") and last[-2] not in "aeiou":
        out.append((*tokens[:-1], last[:-1] + "ies"))
    elif len(last) > 3 and last.endswith("s"):
        out.append((*tokens[:-1], last[:-1]))
    elif len(last) > 2:
        out.append((*tokens[:-1], last + "s"))
    return out


@dataclass(frozen=True)
class Name:
    kind: str  # "category" or "brand"
    canonical: str


@dataclass
class Vocabulary:
    names: dict[tuple[str, ...], Name] = field(default_factory=dict)
    numeric_fields: frozenset[str] = frozenset()
    # The catalogue's median year, what "older" and "newer" are relative to (0 without years).
    median_year: int = 0
    category_keys: dict[str, str] = field(default_factory=dict)
    brand_keys: dict[str, str] = field(default_factory=dict)

    @classmethod
    def build(cls, attributes: ItemAttributes) -> Vocabulary:
        years = sorted(year for year in attributes.years if year is not None)
        vocabulary = cls(
            numeric_fields=attributes.numeric_fields, median_year=years[len(years) // 2] if years else 0
        )
        # Brands first, so that a category of the same words wins the entry.
        for canonical in attributes.brand_names.values():
            tokens = tuple(words(canonical))
            if not tokens or len(tokens) > MAX_NAME_WORDS:
                continue
            if len(tokens) == 1 and (tokens[0] in COMMON_WORDS or len(tokens[0]) < 3):
                continue
            vocabulary.brand_keys[" ".join(tokens)] = canonical
            for variant in _variants(tokens):
                vocabulary.names[variant] = Name("brand", canonical)
        for canonical in attributes.category_names.values():
            tokens = tuple(words(canonical))
            if not tokens or len(tokens) > MAX_NAME_WORDS:
                continue
            vocabulary.category_keys[" ".join(tokens)] = canonical
            for variant in _variants(tokens):
                vocabulary.names[variant] = Name("category", canonical)
        return vocabulary

    def resolve(self, kind: str, name: str, cutoff: float = 0.8) -> tuple[str, str]:
        """(canonical name, "exact" | "closest") for a name the LLM wrote, or ("", "dropped")."""
        keys = self.category_keys if kind == "category" else self.brand_keys
        key = " ".join(words(name))
        if not key:
            return "", "dropped"
        for variant in _variants(tuple(key.split())):
            found = keys.get(" ".join(variant))
            if found is not None:
                return found, "exact"
        close = difflib.get_close_matches(key, list(keys), n=1, cutoff=cutoff)
        if close:
            return keys[close[0]], "closest"
        return "", "dropped"
