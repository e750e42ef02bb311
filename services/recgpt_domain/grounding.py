"""Rule-based check that a short text about an item states only what the item's own attributes say.

An LLM explanation must not invent facts: no other brand of the catalogue, no category the item is not in,
no number the item's attributes do not hold, one sentence within a length bound. The check is deliberately
precise rather than complete (few false alarms): a brand or category counts only when it is a whole phrase
of the catalogue's vocabulary, and terms that the item's own text or the user's interest contain are allowed.
The explain service uses it to reject LLM output, the judge as its rule-based "grounded_facts" dimension.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from recgpt_domain.catalogue import Item

MAX_WORDS = 30
MAX_CHARS = 200

# Problems, a fixed set (they are also metric labels).
EMPTY = "empty"
TOO_LONG = "too_long"
NOT_ONE_SENTENCE = "not_one_sentence"
FOREIGN_BRAND = "foreign_brand"
FOREIGN_CATEGORY = "foreign_category"
INVENTED_NUMBER = "invented_number"
PROBLEMS = (EMPTY, TOO_LONG, NOT_ONE_SENTENCE, FOREIGN_BRAND, FOREIGN_CATEGORY, INVENTED_NUMBER)

# Longest brand or category phrase matched, in words; longer ones are never named whole in a short text.
_MAX_PHRASE_WORDS = 6
# A brand written in lower case in the text of this many other items is an ordinary word of the catalogue.
_COMMON_IN_TEXT = 3
# Brand suffixes that a text leaves out ("VELCRO Brand" is named "Velcro").
_BRAND_SUFFIXES = {"brand", "inc", "co", "corp", "corporation", "company", "ltd", "llc", "gmbh"}


def _word_set(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Brands that are everyday words: naming them in an explanation is not a claim about a brand.
_COMMON_WORDS = _word_set(
    """
    a an and the of for with by to in on at or are is be your you our it its this that one two 3d 2d
    all best better big new old original classic basic simple premium pro professional quality perfect
    great good ideal precision grip home house office shop store lab science scientific industrial
    general generic
    universal standard value plus max ultra super mini micro nano smart easy quick fast safe clean
    green blue red black white gold silver clear pure fresh natural solid strong tough heavy light
    small large little medium high low top first only prime select choice direct supply supplies
    parts part tools tool products product brand company works world american united national global
    tech technology electric electronics power energy star sun moon north south east west
    duck crest inland stanley scotch dial tide glad bic ace eagle lion tiger bull fox
    """
)
_WORD = re.compile(r"[a-z0-9]+")
_LOWER_CASE_WORD = re.compile(r"(?<![A-Za-z0-9])[a-z][a-z0-9]*(?![A-Za-z0-9])")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
# A sentence ends at ., ! or ? followed by space and a capital, unless the word before a "." is an
# abbreviation, a unit or a single letter (initials, "U.S."): product titles are full of "2 in. x 50 yds.".
_SENTENCE_END = re.compile(r"(\S*?)([.!?]+)[\"')\]]*\s+(?=[\"'(]?[A-Z])")
_ABBREVIATIONS = _word_set(
    """
    mr mrs ms dr st jr sr no nr vs etc inc ltd co corp approx fig ref ed vol dept est min max sec hr hrs
    oz lb lbs in ft yd yds mm cm ml mil pt pc pcs pk pkg qty gal ga sq ea dia elec temp grad
    """
)

Phrase = tuple[str, ...]


def words(text: str) -> list[str]:
    """Lower-case word tokens, plurals folded, so "Pipettes" and "pipette" match."""
    return [_fold(token) for token in _WORD.findall(text.lower())]


def _fold(token: str) -> str:
    if len(token) > 3 and token.endswith("s") and not token.endswith("ss") and not token.isdigit():
        return token[:-1]
    return token


def _ngrams(tokens: list[str], longest: int = _MAX_PHRASE_WORDS) -> set[Phrase]:
    return {
        tuple(tokens[start : start + size])
        for size in range(1, longest + 1)
        for start in range(len(tokens) - size + 1)
    }


def _brand_phrase(brand: str) -> Phrase:
    tokens = words(brand)
    while len(tokens) > 1 and tokens[-1] in _BRAND_SUFFIXES:
        tokens.pop()
    return tuple(tokens)


@dataclass(frozen=True)
class CatalogueVocabulary:
    """The catalogue's brand and category phrases that a text can name; built once per process."""

    brands: frozenset[Phrase]
    categories: frozenset[Phrase]
    # Brands written in two characters or fewer ("SE", "GE") count only when written as the brand is.
    short_brands: Mapping[Phrase, str]

    @classmethod
    def from_items(cls, items: Iterable[Item]) -> CatalogueVocabulary:
        items = list(items)
        brands: set[Phrase] = set()
        short: dict[Phrase, str] = {}
        categories: set[Phrase] = set()
        for item in items:
            phrase = _brand_phrase(item.brand)
            if phrase and len(phrase) <= _MAX_PHRASE_WORDS and not all(t.isdigit() for t in phrase):
                brands.add(phrase)
                if len(item.brand.strip()) <= 2:
                    short[phrase] = item.brand.strip()
            for level in item.category_path:
                category = tuple(words(level))
                if category and len(category) <= _MAX_PHRASE_WORDS:
                    categories.add(category)
        common = _common_brands(items, brands)
        kept = {phrase for phrase in brands if phrase not in common}
        return cls(
            brands=frozenset(kept),
            categories=frozenset(categories),
            short_brands={phrase: brand for phrase, brand in short.items() if phrase in kept},
        )


def _common_brands(items: list[Item], brands: set[Phrase]) -> set[Phrase]:
    """Brands that are everyday words: listed as such, or written in lower case in other items' text.

    Real brands are capitalised even where other items name them ("for MakerBot"); "precision", "grip" or
    "ideal" are also brands of the Amazon catalogue, but the catalogue's own text uses them as plain words.
    """
    common = {phrase for phrase in brands if all(token in _COMMON_WORDS for token in phrase)}
    lower_case_uses: Counter[Phrase] = Counter()
    for item in items:
        plain = [_fold(token) for token in _LOWER_CASE_WORD.findall(f"{item.title} {item.description}")]
        own = _brand_phrase(item.brand)
        for phrase in _ngrams(plain) & brands:
            if phrase != own:
                lower_case_uses[phrase] += 1
    common.update(phrase for phrase, count in lower_case_uses.items() if count >= _COMMON_IN_TEXT)
    return common


def check(
    text: str,
    item: Item,
    vocabulary: CatalogueVocabulary,
    *,
    interest: str = "",
    max_words: int = MAX_WORDS,
    max_chars: int = MAX_CHARS,
) -> list[str]:
    """The problems of `text` as a statement about `item`, in `PROBLEMS` order; empty when it is grounded.

    Terms of `interest` are allowed: an explanation may name what the user is interested in.
    """
    text = text.strip()
    if not text:
        return [EMPTY]
    problems: list[str] = []
    if len(text) > max_chars or len(text.split()) > max_words:
        problems.append(TOO_LONG)
    if sentences(text) > 1:
        problems.append(NOT_ONE_SENTENCE)
    own_text = " ".join([item.title, item.brand, " ".join(item.category_path), item.description, interest])
    own = _ngrams(words(own_text))
    named = _ngrams(words(text))
    if _foreign_brands(text, named, own, item, vocabulary):
        problems.append(FOREIGN_BRAND)
    if _foreign_categories(named, own, item, vocabulary):
        problems.append(FOREIGN_CATEGORY)
    if numbers(text) - numbers(own_text):
        problems.append(INVENTED_NUMBER)
    return problems


def _foreign_brands(
    text: str, named: set[Phrase], own: set[Phrase], item: Item, vocabulary: CatalogueVocabulary
) -> list[Phrase]:
    found = []
    for phrase in named & vocabulary.brands:
        if phrase in own or phrase == _brand_phrase(item.brand):
            continue
        short = vocabulary.short_brands.get(phrase)
        if short is not None and not re.search(rf"(?<![A-Za-z0-9]){re.escape(short)}(?![A-Za-z0-9])", text):
            continue
        found.append(phrase)
    return found


def _foreign_categories(
    named: set[Phrase], own: set[Phrase], item: Item, vocabulary: CatalogueVocabulary
) -> list[Phrase]:
    path = {tuple(words(level)) for level in item.category_path}
    return [
        phrase
        for phrase in named & vocabulary.categories
        if phrase not in path and phrase not in own and not all((word,) in own for word in phrase)
    ]


def numbers(text: str) -> set[str]:
    """Numbers written in `text`, thousands separators dropped ("1,000" is "1000"), trailing ".0" too."""
    found: set[str] = set()
    for raw in _NUMBER.findall(text):
        value = re.sub(r",(?=\d{3}(?:\D|$))", "", raw).rstrip(".,")
        if "," in value:  # a list such as "2,3" or a decimal comma: each part counts
            found.update(part for part in value.split(",") if part)
            continue
        whole, _, fraction = value.partition(".")
        whole = whole.lstrip("0") or "0"
        fraction = fraction.rstrip("0")
        found.add(f"{whole}.{fraction}" if fraction else whole)
    return found


def sentences(text: str) -> int:
    """How many sentences `text` holds, counting a line break as a break too."""
    count = max(1, len([line for line in text.strip().splitlines() if line.strip()]))
    return count + len(_sentence_ends(text.strip()))


def first_sentence(text: str) -> str:
    """The first sentence of `text` (its first line, up to the first real sentence end)."""
    lines = [line for line in text.strip().splitlines() if line.strip()]
    first = lines[0].strip() if lines else ""
    ends = _sentence_ends(first)
    return first[: ends[0]].strip() if ends else first


def _sentence_ends(text: str) -> list[int]:
    """Offsets just past each sentence-ending punctuation that is not an abbreviation's dot."""
    ends = []
    for match in _SENTENCE_END.finditer(text):
        word = match.group(1).lower().strip("\"'()[]")
        if match.group(2) == "." and (
            len(word) <= 1 or word in _ABBREVIATIONS or "." in word or word[0].isdigit()
        ):
            continue
        ends.append(match.end(2))
    return ends


def shown_sentence(text: str) -> str:
    """The first sentence, on one line with single spaces and no wrapping quotes: the form checked and shown.

    A small model often writes one good sentence and then rambles; the first sentence is the answer asked for.
    """
    return " ".join(first_sentence(text.strip("\"'“”` ")).split()).strip("\"'“”` ")
