"""Agent-as-a-judge (RecGPT-V2) without the LLM: its dimensions, the defects its rules find, the verdict rule.

One sub-evaluator per dimension judges an artefact; where a rule here finds a defect it settles that dimension
(the rules are precise rather than complete, like `grounding`), else the LLM is asked. Any defect makes the
verdict Bad; only an artefact without one goes to the senior reviewer, who tells Superior from Average. A
reviewer that calls it Bad anyway, or names failing dimensions of a passing one, contradicts the panel.

The judge service asks the LLM; evaluation and training score with the same rules; the explain service uses
the rules alone as the cheap judge that keeps a Bad explanation out of its cache.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from recgpt_domain import grounding
from recgpt_domain.catalogue import Item
from recgpt_domain.category_tags import shape_problem
from recgpt_domain.grounding import CatalogueVocabulary
from recgpt_domain.situation import Situation, named_dayparts, named_seasons

EXPLANATION_DIMENSIONS = (
    "relevance",
    "factuality",
    "clarity",
    "safety",
    "timeliness",
    "informativeness",
    "attractiveness",
)
TAG_DIMENSIONS = ("relevance", "consistency", "specificity", "validity")

Verdict = Literal["superior", "average", "bad"]
VERDICTS: tuple[Verdict, ...] = ("superior", "average", "bad")
# The discrimination score's order of verdicts.
RANK: dict[Verdict, int] = {"bad": 0, "average": 1, "superior": 2}


def _word_set(text: str) -> frozenset[str]:
    return frozenset(text.split())


_FACTUAL = (grounding.FOREIGN_BRAND, grounding.FOREIGN_CATEGORY, grounding.INVENTED_NUMBER)
_FORM = (grounding.EMPTY, grounding.TOO_LONG, grounding.NOT_ONE_SENTENCE)
# Words that name nothing particular of an item: sharing them does not make a text about it.
_GENERIC = _word_set(
    """
    a an and the of for with by to in on at or are is be your you our it its this that these those one
    set pack kit piece pc pcs item product products tool tools supply supplies accessory accessories
    use used using great good best perfect ideal new quality high premium make made work works
    interest interested shopper shop buy need needs fit fits suit suits match matches
    """
)
# Terms no shop explanation or style guideline should carry (bounded on purpose: the LLM's safety
# sub-evaluator judges the rest).
UNSAFE_TERMS = _word_set(
    """
    kill killing suicide weapon weapons bomb explosive explosives poison overdose drug drugs
    hate idiot idiots stupid dumb ugly fat sexy porn nude racist guaranteed cure cures miracle
    """
)


@dataclass(frozen=True)
class Finding:
    """One sub-evaluator's result; `by_rule` when a rule settled it without the LLM."""

    dimension: str
    passed: bool
    reason: str = ""
    by_rule: bool = False


class Contradiction(ValueError):
    """The senior reviewer's verdict disagrees with its sub-evaluators' findings."""


def unsafe_terms(text: str) -> list[str]:
    """The unsafe terms `text` uses, in order of appearance."""
    return [word for word in dict.fromkeys(grounding.words(text)) if word in UNSAFE_TERMS]


def _content(text: str) -> set[str]:
    return {word for word in grounding.words(text) if word not in _GENERIC and not word.isdigit()}


def explanation_defects(
    text: str,
    item: Item,
    vocabulary: CatalogueVocabulary,
    *,
    interest: str = "",
    situation: Situation | None = None,
    max_words: int = grounding.MAX_WORDS,
    max_chars: int = grounding.MAX_CHARS,
) -> dict[str, str]:
    """Dimension -> the defect a rule found in `text` as an explanation of `item`; dimensions without one are
    absent (the LLM judges them)."""
    problems = grounding.check(
        text, item, vocabulary, interest=interest, max_words=max_words, max_chars=max_chars
    )
    defects: dict[str, str] = {}
    if factual := [p for p in problems if p in _FACTUAL]:
        defects["factuality"] = ", ".join(factual)
    if form := [p for p in problems if p in _FORM]:
        defects["clarity"] = ", ".join(form)
    if grounding.EMPTY in problems:
        return defects
    said = _content(text)
    asked = _content(interest)
    own = _content(f"{item.title} {item.brand} {item.category}") - asked
    if not said & own:
        defects["relevance"] = "names nothing of the item beyond the interest"
    specific = _content(f"{item.title} {item.brand} {item.description}") - asked
    specific -= _content(" ".join(item.category_path))
    if not said & specific:
        defects["informativeness"] = "says nothing of the item beyond its category and the interest"
    if unsafe := unsafe_terms(text):
        defects["safety"] = "unsafe terms: " + ", ".join(unsafe)
    if situation is not None and (clash := _untimely(text, situation)):
        defects["timeliness"] = clash
    if repeated := _repeated_run(text, f"{interest} {item.brand}"):
        defects["attractiveness"] = f"repeats itself: {repeated!r}"
    return defects


# Words in a row that a sentence may not say twice (the small model's loops and "Name the X: X" echoes).
_REPEAT_WORDS = 3


def _repeated_run(text: str, allowed: str) -> str:
    """A run of words `text` says twice (not overlapping, two of them words that name something), unless the
    run is part of `allowed` (the interest, the brand: a sentence may name both the item and the interest)."""
    tokens = grounding.words(text)
    allowed_tokens = grounding.words(allowed)
    allowed_runs = {
        tuple(allowed_tokens[i : i + _REPEAT_WORDS]) for i in range(len(allowed_tokens) - _REPEAT_WORDS + 1)
    }
    first: dict[tuple[str, ...], int] = {}
    for start in range(len(tokens) - _REPEAT_WORDS + 1):
        run = tuple(tokens[start : start + _REPEAT_WORDS])
        seen = first.setdefault(run, start)
        if start - seen >= _REPEAT_WORDS and run not in allowed_runs and len(set(run) - _GENERIC) >= 2:
            return " ".join(run)
    return ""


def naming_words(item: Item, interest: str = "") -> set[str]:
    """The words of `item`'s title and brand of which a text must hold one so that the rules above find it
    names the item (relevance) and says more than its category (informativeness): the same words they
    compare, less those of the interest and of the category path."""
    category = _content(" ".join(item.category_path))
    return _content(f"{item.title} {item.brand}") - _content(interest) - category


def _untimely(text: str, situation: Situation) -> str:
    """A season or time of day the text names that is not the shopper's."""
    seasons = named_seasons(text) - {situation.season}
    if situation.season and seasons:
        return f"names {', '.join(sorted(seasons))} in {situation.season}"
    dayparts = named_dayparts(text) - {situation.time_of_day}
    if situation.time_of_day and dayparts:
        return f"names {', '.join(sorted(dayparts))} in the {situation.time_of_day}"
    return ""


def tag_defects(tag: str, behaviour: str, interest: str = "") -> dict[str, str]:
    """Dimension -> the defect a rule found in `tag` for a shopper with `behaviour` (as for explanations)."""
    defects: dict[str, str] = {}
    if problem := shape_problem(" ".join(tag.split())):
        defects["validity"] = problem
    named = _content(tag)
    if not named:
        defects["specificity"] = "only generic words"
    elif not named & (_content(behaviour) | _content(interest)):
        defects["relevance"] = "none of its words occur in the behaviour or the interest"
    return defects


def rule_findings(defects: dict[str, str]) -> list[Finding]:
    return [Finding(dimension, False, reason, by_rule=True) for dimension, reason in defects.items()]


def settled(findings: Iterable[Finding]) -> bool:
    """Whether the findings already make the verdict (a defect: Bad), so the reviewer need not be asked."""
    return any(not finding.passed for finding in findings)


def verdict(
    findings: Sequence[Finding], reviewed: Verdict | None, named_failing: Sequence[str] = ()
) -> Verdict:
    """Bad when any sub-evaluator found a defect; else the reviewer's verdict, unless it contradicts them.

    Raises Contradiction when the reviewer calls a defect-free artefact Bad, names failing dimensions of
    one, or was not asked although nothing settled the verdict.
    """
    if settled(findings):
        return "bad"
    if reviewed is None:
        raise Contradiction("no reviewer verdict for an artefact without defects")
    if reviewed == "bad":
        raise Contradiction("the reviewer calls Bad what every sub-evaluator passed")
    if named_failing:
        raise Contradiction(f"the reviewer names failing dimensions that passed: {', '.join(named_failing)}")
    return reviewed


def score(judged: Verdict, findings: Sequence[Finding]) -> float:
    """A total order for discrimination: the verdict first, then how many dimensions passed."""
    return 10.0 * RANK[judged] + sum(1 for finding in findings if finding.passed)
