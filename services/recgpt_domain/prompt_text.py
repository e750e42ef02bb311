"""Text helpers shared by the agents' prompts and their checks of what the LLM answered."""

from __future__ import annotations

import re

from recgpt_domain import grounding
from recgpt_domain.catalogue import Item

_SPACES = re.compile(r"\s+")


def clip(text: str, limit: int) -> str:
    """One line, single spaces, at most `limit` characters (an ellipsis marks a cut)."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def normalise(text: str) -> str:
    """Case-folded, single-spaced, without surrounding punctuation: the key for duplicates and titles."""
    return _SPACES.sub(" ", text).strip(" \t\n.,;:!?\"'`-*()[]{}").casefold()


def item_facts(item: Item, title_chars: int, description_chars: int) -> list[str]:
    """The item as a prompt quotes it: the only facts an explanation may use."""
    facts = [f"Title: {clip(item.title, title_chars)}"]
    if item.brand:
        facts.append(f"Brand: {item.brand}")
    if item.category_path:
        facts.append(f"Category: {' > '.join(item.category_path)}")
    if item.description:
        facts.append(f"Description: {clip(item.description, description_chars)}")
    return facts


# Where a product title's head phrase ends: a list of variants, a dash, brackets, or "for"/"with" and what
# follows ("Brass Hose Fitting, Connector, 5/16 Barb" names a "Brass Hose Fitting").
_TITLE_HEAD_END = re.compile(r",|;|\s[-\u2013|/]\s|[(\[]|\s(?:for|with|by|in|and|from)\s", re.IGNORECASE)
# A model or part code ("OAT6802", "GM5539", "1.75mm"): letters and digits together in one longer word.
_CODE = re.compile(r"^(?=\S*\d)(?=\S*[A-Za-z])\S{5,}$")
# A bracketed note before the title proper ("[Open Resin] XYZprinting ...").
_LEADING_NOTE = re.compile(r"^[\[(][^\])]*[\])]\s*")
# An article before the title proper ("The Hillman Group ..."): the sentence brings its own.
_LEADING_ARTICLE = re.compile(r"^(?:the|a|an)\s+", re.IGNORECASE)
# Words a cut head phrase must not end on ("5 Pcs 8 x").
_DANGLING = {"x", "pcs", "pc", "pack", "of", "set", "per"}


def short_name(item: Item, naming: set[str], max_words: int = 6) -> str:
    """The title's head phrase (model codes left out), short enough to name the item in a sentence; with the
    brand in front when the head holds none of `naming` (folded words, `grounding.words`); empty when
    neither does."""
    title = _LEADING_ARTICLE.sub("", _LEADING_NOTE.sub("", " ".join(item.title.split())))
    head = _TITLE_HEAD_END.split(title, maxsplit=1)[0]
    kept = [word for word in head.split() if not _CODE.match(word)][:max_words]
    while kept and (kept[-1].isdigit() or kept[-1].lower() in _DANGLING):
        kept.pop()
    name = " ".join(kept).strip(" .,;:-")
    if naming & set(grounding.words(name)):
        return name
    brand = " ".join(item.brand.split())
    if brand and naming & set(grounding.words(brand)):
        return f"{brand} {name}".strip() if len(kept) < max_words else brand
    return ""
