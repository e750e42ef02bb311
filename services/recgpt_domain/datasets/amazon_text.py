"""Amazon item text ("TITLE. CATEGORY PATH. BRAND.") split into title, category path and brand.

Titles and brands may themselves contain ". ", and the category path lost its level boundaries (levels are
joined by spaces), so the category segment is found by its root (the catalogue's top category, inferred as
the word prefix nearly every category shares) and the level-2 boundary is inferred from the whole catalogue:
see `infer_level2`.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

# Share of category segments that must start with a word prefix for it to count as the catalogue's root.
ROOT_SHARE = 0.9
# Words after which a category name must go on ("Tapes, Adhesives & Sealants").
_JOINERS = {"&", "and", "of", "the", "for", "-"}

Words = tuple[str, ...]


@dataclass(frozen=True)
class ParsedText:
    title: str
    brand: str
    # The category levels below the root as words; None when the text names no category.
    category_words: Words | None


def segments(text: str) -> list[str]:
    body = text.strip()
    if body.endswith("."):
        body = body[:-1]
    return body.split(". ")


def infer_root(texts: Iterable[str]) -> str | None:
    """The longest word prefix shared by at least ROOT_SHARE of the category segments (the second-to-last)."""
    prefixes: Counter[Words] = Counter()
    total = 0
    for text in texts:
        parts = segments(text)
        if len(parts) < 3 or not parts[-2].strip():
            continue
        total += 1
        words = tuple(parts[-2].split())
        prefixes.update(words[:k] for k in range(1, len(words) + 1))
    if total == 0:
        return None
    shared = [prefix for prefix, count in prefixes.items() if count >= ROOT_SHARE * total]
    if not shared:
        return None
    longest: Words = max(shared, key=len)
    return " ".join(longest)


def parse_text(text: str, root: str | None) -> ParsedText:
    """Title = the segments before the category segment, brand = those after it (either may hold ". ")."""
    parts = segments(text)
    if root is not None:
        # The last segment that starts with the root; the first segment is always title.
        found = [i for i, part in enumerate(parts) if i > 0 and (part == root or part.startswith(root + " "))]
        if found:
            at = found[-1]
            return ParsedText(
                title=". ".join(parts[:at]).strip(),
                brand=". ".join(parts[at + 1 :]).strip(),
                category_words=tuple(parts[at][len(root) :].split()),
            )
    if len(parts) >= 3:
        # "TITLE. . BRAND." (no category), or a category outside the root, which is dropped.
        return ParsedText(title=". ".join(parts[:-2]).strip(), brand=parts[-1].strip(), category_words=None)
    return ParsedText(title=". ".join(parts).strip(), brand="", category_words=None)


def _can_end(words: Words, k: int) -> bool:
    """Whether a category name may end after its first `k` words."""
    last = words[k - 1]
    if last.lower() in _JOINERS or last.endswith(","):
        return False
    return k == len(words) or words[k].lower() not in _JOINERS


def _has_prefix_in(words: Words, levels: set[Words]) -> bool:
    return any(words[:k] in levels for k in range(1, len(words)))


def _cut_at_end_word(words: Words, end_words: set[str]) -> Words:
    for k in range(1, len(words)):
        if words[k - 1] in end_words and _can_end(words, k):
            return words[:k]
    return words


def _clean_end_words(seeds: set[Words]) -> set[str]:
    """The last words of the seeds that no such word cuts, found as a fixed point.

    A seed that runs past its level 2 ("Occupational Health & Safety Products Hazardous Material Handling")
    must not lend its last word to cut others ("Material Handling Products").
    """
    end_words = {seed[-1] for seed in seeds}
    for _ in range(10):
        clean = {seed for seed in seeds if _cut_at_end_word(seed, end_words) == seed}
        narrowed = {seed[-1] for seed in clean}
        if narrowed == end_words:
            break
        end_words = narrowed
    return end_words


def infer_level2(remainders: Iterable[Words]) -> set[Words]:
    """The level-2 category names, from the category words below the root of every item.

    1. Seeds: paths where some item stops although others go deeper, shortest only ("Fasteners" is a path of
       its own and a prefix of "Fasteners Screws Wood Screws").
    2. The last words of the seeds ("Products", "Supplies", "Tools") end names: a seed with such a word
       inside is cut after it (its level 2 never occurs alone); see `_clean_end_words`.
    3. Paths no seed covers: walk down their word tree from the first word and stop where the tree
       branches, where an item stops, or after a word that ends a seed; never inside "A & B" or "A, B".
    """
    paths = [words for words in remainders if words]
    stops = set(paths)
    inner = {words[:k] for words in paths for k in range(1, len(words))}
    seeds = {words for words in stops & inner if not _has_prefix_in(words, stops)}
    seed_end_words = {seed[-1] for seed in seeds}
    clean_end_words = _clean_end_words(seeds)
    seeds = {_cut_at_end_word(seed, clean_end_words) for seed in seeds}
    end_words = clean_end_words | seed_end_words

    uncovered = [words for words in paths if not (words in seeds or _has_prefix_in(words, seeds))]
    uncovered_stops = set(uncovered)
    children: defaultdict[Words, set[str]] = defaultdict(set)
    for words in uncovered:
        for k in range(1, len(words)):
            children[words[:k]].add(words[k])
    found: set[Words] = set()
    for words in uncovered:
        k = 1
        while k < len(words):
            prefix = words[:k]
            if _can_end(words, k) and (
                prefix in uncovered_stops or prefix[-1] in end_words or len(children[prefix]) > 1
            ):
                break
            k += 1
        found.add(words[:k])
    levels = seeds | found
    return {level for level in levels if not _has_prefix_in(level, levels)}


def category_path(root: str, words: Words, level2: set[Words]) -> list[str]:
    """[root, level 2, deeper levels joined by spaces]; the deeper part is left out when empty."""
    if not words:
        return [root]
    head = next((words[:k] for k in range(1, len(words) + 1) if words[:k] in level2), words[:1])
    path = [root, " ".join(head)]
    rest = words[len(head) :]
    if rest:
        path.append(" ".join(rest))
    return path


def level2_summary(level2: Sequence[Words]) -> str:
    return "; ".join(sorted(" ".join(level) for level in level2))
