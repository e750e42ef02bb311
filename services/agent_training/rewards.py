"""Rewards for GRPO (RecGPT-V2's constrained reward shaping) and the filters of self-training.

Tags: accuracy (the share of the next items' categories that the answer's tags, mapped to catalogue categories
the way the tag service maps them, hit), alignment (the share of tags that map confidently to a category),
diversity (distinct categories per tag) and length (a tag count within bounds). Constrained reward shaping
(CRS) keeps accuracy as the one objective and lets the others gate it: the reward is accuracy when every
constraint holds, else 0, so the model cannot buy reward with unaligned or repetitive tags. GRPO-SUM, the
paper's comparison, adds the four. Explanations: the judge's verdict gated by diversity against a buffer of
the 160 most recent explanations (1 - the highest ROUGE-L to any of them); the verdict is agent-as-a-judge's
cheap proxy, its rules without the LLM (recgpt_domain.judge_panel): Average when no rule finds a defect, else
Bad, scored by judge_panel.score and scaled to [0, 1]: a Bad answer still earns for what it passed.
RecGPT-V2's persona experts (`score_expert`): the hit (the next items' categories their pool offers, named
by their in-pool picks) gated by the validity of the answer and its length.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from pydantic import ConfigDict, ValidationError

from evaluation.metrics import rouge_l
from explain.schema import ExplanationAnswer
from recgpt_domain import grounding, judge_panel
from recgpt_domain.catalogue import Item
from recgpt_domain.category_map import CategoryMatch
from recgpt_domain.category_tags import shape_problem
from recgpt_domain.grounding import CatalogueVocabulary
from recgpt_domain.persona_tags import EXPERT_TAGS
from recgpt_domain.tag_choice import (
    ChosenNumbers,
    category_named,
    chosen_categories,
    named_by_numbers,
)
from tags.schema import TagsAnswer

Shaping = Literal["crs", "sum"]


class TagMapper(Protocol):
    """Maps tag texts to their best catalogue category with its cosine (in production:
    recgpt_domain.category_map)."""

    def map(self, texts: Sequence[str]) -> list[CategoryMatch]: ...


@dataclass(frozen=True)
class TagConstraints:
    # The tag service's own threshold (TagsSettings.tag_min_category_score) makes a mapping confident.
    min_category_score: float = 0.33
    min_alignment: float = 0.8
    min_diversity: float = 0.8
    min_tags: int = 1
    max_tags: int = 10


@dataclass(frozen=True)
class TagScores:
    parsed: bool
    tags: int
    accuracy: float
    alignment: float
    diversity: float
    length: float
    # Categories of the confidently mapped tags, in answer order.
    categories: tuple[str, ...] = ()

    def reward(self, shaping: Shaping, constraints: TagConstraints) -> float:
        if not self.parsed:
            return 0.0
        if shaping == "sum":
            return self.accuracy + self.alignment + self.diversity + self.length
        gates = (
            self.alignment >= constraints.min_alignment
            and self.diversity >= constraints.min_diversity
            and self.length >= 1.0
        )
        return self.accuracy if gates else 0.0


def completion_text(completion: Any) -> str:
    """TRL hands conversational completions as message lists, plain ones as strings."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, list) and completion and isinstance(completion[-1], Mapping):
        return str(completion[-1].get("content", ""))
    return ""


def parse_tags(text: str, listed: Sequence[str] = ()) -> list[str] | None:
    """The well-formed tags of an answer (the tag validator's shape check), None when it is no answer.

    Generate mode's answer (tags with interests and rationales) or choose mode's (the numbers of the
    `listed` names its prompt offered, read as the tag service reads them).
    """
    try:
        raw = json.loads(text)
    except ValueError:
        return None
    texts: list[str]
    try:
        texts = [entry.tag for entry in TagsAnswer.model_validate(raw).tags]
    except ValidationError:
        if not listed:
            return None
        try:
            # A number past the list names "", which the shape check below drops.
            texts = named_by_numbers(_SchemaAnswer.model_validate(raw).tags, listed)
        except ValidationError:
            return None
    kept: list[str] = []
    for written in texts:
        tag = " ".join(written.split())
        if shape_problem(tag) is None and tag.casefold() not in {k.casefold() for k in kept}:
            kept.append(tag)
    return kept


def score_tags(
    text: str,
    next_categories: Sequence[str],
    mapper: TagMapper,
    constraints: TagConstraints,
    listed: Sequence[str] = (),
) -> TagScores:
    """`listed`: choose mode's names, in the numbered order its prompt offered them."""
    tags = parse_tags(text, listed)
    if tags is None:
        return TagScores(False, 0, 0.0, 0.0, 0.0, 0.0)
    if not tags:
        return TagScores(True, 0, 0.0, 0.0, 0.0, 0.0)
    matches = mapper.map(tags)
    confident = [m.category for m in matches if m.score >= constraints.min_category_score]
    distinct = set(confident)
    targets = set(next_categories)
    return TagScores(
        parsed=True,
        tags=len(tags),
        accuracy=len(distinct & targets) / len(targets) if targets else 0.0,
        alignment=len(confident) / len(tags),
        diversity=len({m.category for m in matches}) / len(tags),
        length=1.0 if constraints.min_tags <= len(tags) <= constraints.max_tags else 0.0,
        categories=tuple(dict.fromkeys(confident)),
    )


@dataclass(frozen=True)
class ExpertConstraints:
    """What a valid expert answer is: its picks' count within the schema's bounds (minItems 1, maxItems the
    picks asked, `RECGPT_EXPERT_TAGS`).

    Length counts picks, not words: the paper's 6-11 bound is on a tag the model writes, and an expert writes
    none. Every name it may pick is its pool's, a category tag fixed by the catalogue, so a bound on a name's
    words would gate the catalogue's naming, which no answer can change; what an answer does control is how
    many names it picks, as the tag reward's length term counts tags. Picking the whole pool would otherwise
    buy hits.
    """

    min_picks: int = 1
    max_picks: int = EXPERT_TAGS


@dataclass(frozen=True)
class ExpertScores:
    # The answer is the schema's object: {"tags": [numbers]} and nothing else (the choice among the pool's
    # numbers is the in-pool term).
    parsed: bool
    picks: int
    # The share of the next items' categories the pool offers that the answer names, read as the tag service
    # reads it (in-pool picks, each once, the first `max_picks`); 0 when the pool offers none.
    hit: float
    # Shares of the picks that name a pool category, and that repeat no earlier pick.
    in_pool: float
    distinct: float
    length: float
    # The categories the tag service would serve from this answer; whether the pool offers a target at all.
    categories: tuple[str, ...] = ()
    reachable: bool = False

    @property
    def valid(self) -> bool:
        """What the served schema allows: parsed, every pick in the pool, none twice, a count in bounds."""
        return self.parsed and self.in_pool == 1.0 and self.distinct == 1.0 and self.length == 1.0

    @property
    def fallback(self) -> bool:
        """The tag service falls back on it: unparseable, or no pick left once those outside are dropped."""
        return not self.categories

    def reward(self, shaping: Shaping) -> float:
        """CRS: the hit when the answer is valid, else 0. SUM: the hit plus the three validity terms."""
        if not self.parsed:
            return 0.0
        if shaping == "sum":
            return self.hit + self.in_pool + self.distinct + self.length
        return self.hit if self.valid else 0.0


class _SchemaAnswer(ChosenNumbers):
    """A numbered answer (an expert's, choose mode's) as its schema has it: integers, no other key
    (`additionalProperties: false`)."""

    model_config = ConfigDict(extra="forbid", strict=True)


def score_expert(
    text: str,
    pool: Mapping[str, str],
    next_categories: Sequence[str],
    constraints: ExpertConstraints,
) -> ExpertScores:
    """`pool`: the names the expert was offered, in their numbered order -> their categories;
    `next_categories`: what came next. The answer's numbers are read as the tag service reads them."""
    offered = set(next_categories) & set(pool.values())
    try:
        numbers = _SchemaAnswer.model_validate(json.loads(text)).tags
    except (ValueError, ValidationError):
        return ExpertScores(False, 0, 0.0, 0.0, 0.0, 0.0, reachable=bool(offered))
    if not numbers:
        return ExpertScores(True, 0, 0.0, 0.0, 0.0, 0.0, reachable=bool(offered))
    picks = named_by_numbers(numbers, list(pool))
    served = chosen_categories(picks, pool, constraints.max_picks)
    return ExpertScores(
        parsed=True,
        picks=len(picks),
        hit=len(offered.intersection(served)) / len(offered) if offered else 0.0,
        in_pool=sum(1 for pick in picks if category_named(pick, pool) is not None) / len(picks),
        distinct=len(set(numbers)) / len(numbers),
        length=1.0 if constraints.min_picks <= len(picks) <= constraints.max_picks else 0.0,
        categories=tuple(served),
        reachable=bool(offered),
    )


# RecGPT-V2's buffer of recent explanations that diversity is measured against.
EXPLANATION_BUFFER = 160
# The proxy's best score: Average (no defect), all seven dimensions passed.
_BEST_PROXY = judge_panel.score(
    "average", [judge_panel.Finding(d, True) for d in judge_panel.EXPLANATION_DIMENSIONS]
)


@dataclass(frozen=True)
class ExplanationScores:
    parsed: bool
    grounded: float
    diversity: float
    # The judge's proxy verdict in [0, 1]: 1.0 when no rule finds a defect.
    judged: float = 0.0
    # The rules' defects, by dimension (empty: it passes all seven).
    defects: tuple[str, ...] = ()

    def reward(self, shaping: Shaping, min_diversity: float) -> float:
        if not self.parsed:
            return 0.0
        if shaping == "sum":
            return self.judged + self.diversity
        return self.judged if self.diversity >= min_diversity else 0.0


def parse_explanation(text: str) -> str | None:
    try:
        return grounding.shown_sentence(ExplanationAnswer.model_validate(json.loads(text)).explanation)
    except (ValueError, ValidationError):
        return None


class ExplanationRewarder:
    """Scores explanations by the judge's proxy and against a buffer of the most recent grounded ones."""

    def __init__(
        self, vocabulary: CatalogueVocabulary, max_words: int, buffer_size: int = EXPLANATION_BUFFER
    ) -> None:
        self.vocabulary = vocabulary
        self.max_words = max_words
        self.recent: deque[str] = deque(maxlen=buffer_size)

    def score(self, text: str, item: Item, interest: str, *, remember: bool = True) -> ExplanationScores:
        sentence = parse_explanation(text)
        if sentence is None:
            return ExplanationScores(False, 0.0, 0.0)
        problems = grounding.check(
            sentence, item, self.vocabulary, interest=interest, max_words=self.max_words
        )
        defects = judge_panel.explanation_defects(
            sentence, item, self.vocabulary, interest=interest, max_words=self.max_words
        )
        findings = [judge_panel.Finding(d, d not in defects) for d in judge_panel.EXPLANATION_DIMENSIONS]
        verdict: judge_panel.Verdict = "bad" if defects else "average"
        closest = max((rouge_l(sentence, other) for other in self.recent), default=0.0)
        scores = ExplanationScores(
            True,
            0.0 if problems else 1.0,
            1.0 - closest,
            judged=judge_panel.score(verdict, findings) / _BEST_PROXY,
            defects=tuple(defects),
        )
        if remember and not problems:
            self.recent.append(sentence)
        return scores
