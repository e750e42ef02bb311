"""The deterministic half of the RecBot parser: what rules can be right about, they decide.

A command is cut into clauses; in each, cue words set the polarity ("no", "not", "without", "no longer"...),
hardness ("only", "just") or a cancellation ("forget", "never mind"); catalogue names (any category level,
genres, brands), references to the feed ("the third one"), years and mean ratings (where the catalogue has
them) are matched; what is left of a clause is handed on (to the LLM, or kept as a soft text). Instructions
addressed to the system ("ignore previous instructions", other users' data) are ignored, reported as such.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from intent.commands.vocabulary import MAX_NAME_WORDS, Vocabulary, words, wordset
from recgpt_domain.preferences import Constraint, Preferences

POSITIVE, NEGATIVE = "positive", "negative"
CLAUSE_BREAK = re.compile(
    r"[,;!?\n]+|\.(?!\d)|\s(?=\b(?:but|however|except|although|though|whereas)\b)", re.IGNORECASE
)
NEGATIVE_CUES = wordset(
    """
    no not don't dont doesn't never without except avoid exclude excluding hate stop less fewer nothing
    none nor neither isn't aren't skip dislike remove minus
    """
)
ONLY_CUES = frozenset({"only", "just", "exclusively", "solely"})
CANCEL_CUES = frozenset({"forget", "cancel", "undo", "mind", "drop", "reset", "clear", "whatever"})
RESET = re.compile(
    r"\b(start over|start again|from scratch|reset( (all|everything|my preferences|the feed))?$|"
    r"clear (all|everything|my preferences|the filters?)|forget (everything|all|my preferences))\b"
)
INJECTION = re.compile(
    r"\b(ignore (all |any |the )?(previous|prior|above|earlier|your)|system prompt|"
    r"your (instructions|prompt|rules)|other users?|another user|all users|users?(?!-)|user[ _]?ids?|"
    r"[\w-]+'s (?:preferences|history|data|account)|api keys?|passwords?|admin|developer mode|"
    r"you are now|act as|pretend|jailbreak|reveal|disregard)\b"
)
# Words that carry no preference on their own.
FILLER = wordset(
    """
    a an the and or of to for in on at by with me my i i'm im we us you please show give want need would
    like love some more any all anything something things thing stuff items item products product ones
    one see get let have has had do does is are be was it its that this these those there here them then
    than also too again back actually instead now really maybe kind sort type types lot lots much many
    very films film movies movie feed page next list rather prefer preferably looking look find similar
    about same but however except although though whereas other another just only exclusively solely
    from with released made any more
    """
)
ORDINALS = {
    "first": 1, "1st": 1, "second": 2, "2nd": 2, "third": 3, "3rd": 3, "fourth": 4, "4th": 4,
    "fifth": 5, "5th": 5, "sixth": 6, "6th": 6, "seventh": 7, "7th": 7, "eighth": 8, "8th": 8,
    "ninth": 9, "9th": 9, "tenth": 10, "10th": 10, "last": -1,
}  # fmt: skip
_NUMBERED = re.compile(r"^(\d{1,3})(?:st|nd|rd|th)$")
REFERENCE_NOUNS = frozenset({"one", "item", "product", "film", "movie", "pick", "result", "thing"})
HIGH_RATING, LOW_RATING = 4.0, 2.5
_YEAR = r"(1[89]\d\d|20[0-4]\d)"
_RATING = r"([0-5](?:\.\d)?)"


@dataclass
class Part:
    span: str
    kind: str
    source: str
    polarity: str
    value: str
    resolution: str
    note: str = ""


@dataclass
class RulesResult:
    added: Preferences = field(default_factory=Preferences)
    removed: Preferences = field(default_factory=Preferences)
    reset: bool = False
    parts: list[Part] = field(default_factory=list)
    # Clause remainders no rule understood: (text, polarity).
    leftovers: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class _Clause:
    tokens: list[str]
    consumed: set[int] = field(default_factory=set)

    @property
    def text(self) -> str:
        return " ".join(self.tokens)

    def token_span(self, start: int, end: int) -> list[int]:
        """Indices of the tokens inside the character span [start, end) of `text`."""
        out, position = [], 0
        for index, token in enumerate(self.tokens):
            if start <= position < end:
                out.append(index)
            position += len(token) + 1
        return out

    def negated_before(self, index: int) -> bool:
        return any(token in NEGATIVE_CUES for token in self.tokens[:index])

    def polarity_at(self, index: int) -> str:
        return NEGATIVE if self.negated_before(index) else POSITIVE


class RulesParser:
    def __init__(self, vocabulary: Vocabulary) -> None:
        self.vocabulary = vocabulary

    def parse(self, text: str, feed: Sequence[str], current: Preferences) -> RulesResult:
        result = RulesResult()
        for raw in CLAUSE_BREAK.split(text):
            tokens = words(raw)
            if not tokens:
                continue
            clause = _Clause(tokens)
            if INJECTION.search(clause.text):
                result.parts.append(
                    Part(
                        raw.strip(),
                        "ignored",
                        "rules",
                        "",
                        "",
                        "ignored",
                        "instruction to the system ignored",
                    )
                )
                continue
            if RESET.search(clause.text):
                result.reset = True
                result.added, result.removed = Preferences(), Preferences()
                result.parts.append(Part(raw.strip(), "reset", "rules", "", "", "exact"))
                continue
            self._clause(clause, feed, current, result)
        return result

    def _clause(
        self, clause: _Clause, feed: Sequence[str], current: Preferences, result: RulesResult
    ) -> None:
        tokens = clause.tokens
        only = any(token in ONLY_CUES for token in tokens)
        cancel = any(token in CANCEL_CUES for token in tokens) or "never mind" in clause.text
        self._references(clause, feed, cancel, result)
        self._numbers(clause, result)
        self._names(clause, only, cancel, result)
        rest = [
            token
            for index, token in enumerate(tokens)
            if index not in clause.consumed
            and token not in FILLER
            and token not in NEGATIVE_CUES
            and token not in CANCEL_CUES
            and token not in ("longer", "never")
        ]
        matched_something = len(clause.consumed) > 0
        if cancel and rest:
            # "forget the tape": whatever soft text it was kept as goes.
            for text in (" ".join(rest), *rest):
                result.removed.soft_positive.append(text)
                result.removed.soft_negative.append(text)
            result.parts.append(Part(" ".join(rest), "cancel", "rules", "", " ".join(rest), "exact"))
        elif rest and not (matched_something and len(rest) == 1):
            # One word beside a matched name describes it ("the ELEGOO kits"): not a preference of its own.
            result.leftovers.append((" ".join(rest), clause.polarity_at(len(tokens))))

    def _references(self, clause: _Clause, feed: Sequence[str], cancel: bool, result: RulesResult) -> None:
        tokens = clause.tokens
        for index, token in enumerate(tokens):
            position: int | None = None
            used = [index]
            numbered = _NUMBERED.match(token)
            ordinal = ORDINALS.get(token) or (int(numbered.group(1)) if numbered else None)
            if ordinal and index + 1 < len(tokens) and tokens[index + 1] in REFERENCE_NOUNS:
                position = ordinal
                used.append(index + 1)
            elif (
                token in ("item", "number", "no") and index + 1 < len(tokens) and tokens[index + 1].isdigit()
            ):
                position = int(tokens[index + 1])
                used.append(index + 1)
            if position is None:
                continue
            clause.consumed.update(used)
            span = " ".join(tokens[i] for i in used)
            polarity = clause.polarity_at(index)
            slot = len(feed) + position if position < 0 else position - 1
            if not 0 <= slot < len(feed):
                result.parts.append(
                    Part(span, "item", "rules", polarity, "", "dropped", f"the feed has {len(feed)} items")
                )
                continue
            item_id = feed[slot]
            if cancel:
                _remove_item(result, item_id)
                result.parts.append(Part(span, "cancel", "rules", "", item_id, "exact"))
                continue
            if polarity == NEGATIVE:
                _add_item(result.added.hard_negative, Constraint(field="item", value=item_id))
                _add_text(result.added.soft_negative_items, item_id, result.added.soft_positive_items)
            else:
                _add_text(result.added.soft_positive_items, item_id, result.added.soft_negative_items)
                result.added.hard_negative[:] = [
                    c for c in result.added.hard_negative if not (c.field == "item" and c.value == item_id)
                ]
                result.removed.hard_negative.append(Constraint(field="item", value=item_id))
            result.parts.append(Part(span, "item", "rules", polarity, item_id, "exact"))

    def _numbers(self, clause: _Clause, result: RulesResult) -> None:
        numeric = self.vocabulary.numeric_fields
        for pattern, field_name, make in _NUMBER_RULES:
            for match in pattern.finditer(clause.text):
                indices = clause.token_span(match.start(), match.end())
                if not indices or any(index in clause.consumed for index in indices):
                    continue
                clause.consumed.update(indices)
                polarity = clause.polarity_at(indices[0])
                if field_name not in numeric:
                    note = f"the catalogue has no {field_name}"
                    result.parts.append(
                        Part(match.group(0), field_name, "rules", polarity, "", "dropped", note)
                    )
                    continue
                bounds = make(match, self.vocabulary)
                if polarity == NEGATIVE:
                    bounds = _negate(bounds, field_name)
                for op, value in bounds:
                    constraint = Constraint(field=field_name, op=op, value=_number(value))
                    result.added.hard_positive.append(constraint)
                    result.parts.append(
                        Part(
                            match.group(0), field_name, "rules", polarity, f"{op} {constraint.value}", "exact"
                        )
                    )

    def _names(self, clause: _Clause, only: bool, cancel: bool, result: RulesResult) -> None:
        tokens, names = clause.tokens, self.vocabulary.names
        index = 0
        while index < len(tokens):
            found = None
            for size in range(min(MAX_NAME_WORDS, len(tokens) - index), 0, -1):
                window = range(index, index + size)
                if any(i in clause.consumed for i in window):
                    continue
                name = names.get(tuple(tokens[index : index + size]))
                if name is not None and not (size == 1 and tokens[index] in FILLER):
                    found = (size, name)
                    break
            if found is None:
                index += 1
                continue
            size, name = found
            clause.consumed.update(range(index, index + size))
            span = " ".join(tokens[index : index + size])
            polarity = clause.polarity_at(index)
            constraint = Constraint(field=name.kind, value=name.canonical)
            if cancel:
                result.removed.hard_positive.append(constraint)
                result.removed.soft_positive.append(name.canonical)
                result.removed.soft_negative.append(name.canonical)
                result.parts.append(Part(span, "cancel", "rules", "", name.canonical, "exact"))
            elif polarity == NEGATIVE:
                note = _contradiction(result.added.hard_positive, constraint, result.added.soft_positive)
                result.added.hard_negative.append(constraint)
                result.parts.append(Part(span, name.kind, "rules", NEGATIVE, name.canonical, "exact", note))
            else:
                note = _contradiction(result.added.hard_negative, constraint, [])
                if only:
                    result.added.hard_positive.append(constraint)
                else:
                    _add_text(result.added.soft_positive, name.canonical, result.added.soft_negative)
                # A positive word about a name lifts an earlier ban on it (newest wins).
                result.removed.hard_negative.append(constraint)
                kind = name.kind if only else "soft"
                result.parts.append(Part(span, kind, "rules", POSITIVE, name.canonical, "exact", note))
            index += size


def _contradiction(opposite: list[Constraint], constraint: Constraint, soft: list[str]) -> str:
    """Drops an opposite mention of the same name earlier in the command: the later one wins."""
    clash = any(c.same_target(constraint) for c in opposite) or any(
        t.casefold() == constraint.value.casefold() for t in soft
    )
    if not clash:
        return ""
    opposite[:] = [c for c in opposite if not c.same_target(constraint)]
    soft[:] = [t for t in soft if t.casefold() != constraint.value.casefold()]
    return "contradiction in the command: the later mention wins"


def _add_text(target: list[str], value: str, opposite: list[str]) -> None:
    opposite[:] = [text for text in opposite if text.casefold() != value.casefold()]
    if value.casefold() not in {text.casefold() for text in target}:
        target.append(value)


def _add_item(target: list[Constraint], constraint: Constraint) -> None:
    if not any(c.same_target(constraint) for c in target):
        target.append(constraint)


def _remove_item(result: RulesResult, item_id: str) -> None:
    result.removed.hard_negative.append(Constraint(field="item", value=item_id))
    result.removed.soft_positive_items.append(item_id)
    result.removed.soft_negative_items.append(item_id)


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.1f}"


Bounds = list[tuple[str, float]]


def _negate(bounds: Bounds, field_name: str) -> Bounds:
    """ "No films before 1980" keeps 1980 on: a negated bound flips (a negated range is left as asked)."""
    if len(bounds) != 1:
        return bounds
    op, value = bounds[0]
    step = 1 if field_name == "year" else 0
    return [("gte", value + step)] if op == "lte" else [("lte", value - step)]


def _decade(match: re.Match[str], _: Vocabulary) -> Bounds:
    digits = match.group(1)
    start = (
        int(digits) if len(digits) == 4 else (1900 + int(digits) if int(digits) >= 20 else 2000 + int(digits))
    )
    return [("gte", start), ("lte", start + 9)]


MakeBounds = Callable[[re.Match[str], Vocabulary], Bounds]


def _years(low: int | None, high: int | None) -> MakeBounds:
    """Bounds from the match's first year (or the two of a range), shifted by `low`/`high` years."""

    def make(match: re.Match[str], _: Vocabulary) -> Bounds:
        years = [int(group) for group in match.groups() if group]
        bounds: Bounds = []
        if low is not None:
            bounds.append(("gte", years[0] + low))
        if high is not None:
            bounds.append(("lte", years[-1] + high))
        return bounds

    return make


def _rating(op: str, fixed: float | None = None) -> MakeBounds:
    return lambda match, _: [(op, fixed if fixed is not None else float(match.group(1)))]


def _median(op: str) -> MakeBounds:
    return lambda match, vocabulary: [(op, vocabulary.median_year)]


_RATED = r"(?:rated|rating|ratings|score|stars?)"
_NUMBER_RULES: list[tuple[re.Pattern[str], str, MakeBounds]] = [
    (re.compile(rf"\bbetween {_YEAR} and {_YEAR}\b"), "year", _years(0, 0)),
    (re.compile(r"\b(?:the )?((?:1[89]|20)\d0|[0-9]0)s\b"), "year", _decade),
    (re.compile(rf"\b(?:before|earlier than|older than|prior to|pre) {_YEAR}\b"), "year", _years(None, -1)),
    (re.compile(rf"\b(?:until|up to|no later than) {_YEAR}\b"), "year", _years(None, 0)),
    (re.compile(rf"\b(?:after|newer than|later than|post) {_YEAR}\b"), "year", _years(1, None)),
    (
        re.compile(rf"\b(?:since|from|in|no earlier than) {_YEAR} on(?:wards)?\b|\bsince {_YEAR}\b"),
        "year",
        _years(0, None),
    ),
    (re.compile(rf"\b(?:from|in|released in|made in) {_YEAR}\b"), "year", _years(0, 0)),
    (re.compile(r"\b(?:older|old|classic|vintage)\b"), "year", _median("lte")),
    (re.compile(r"\b(?:newer|recent|new|modern|latest)\b"), "year", _median("gte")),
    (
        re.compile(rf"\b{_RATED} (?:of )?(?:at least|above|over|more than|min|minimum) {_RATING}\b"),
        "rating",
        _rating("gte"),
    ),
    (
        re.compile(rf"\b(?:at least|above|over|more than) {_RATING} (?:stars?|rating|ratings)\b"),
        "rating",
        _rating("gte"),
    ),
    (
        re.compile(rf"\b{_RATING} stars? (?:or more|and up|and above|plus|or better)\b"),
        "rating",
        _rating("gte"),
    ),
    (re.compile(rf"\b{_RATED} (?:below|under|less than|at most) {_RATING}\b"), "rating", _rating("lte")),
    (
        re.compile(
            r"\b(?:highly|well|top|best|high|better) rated\b|\b(?:good|high|great) (?:ratings?|reviews)\b"
        ),
        "rating",
        _rating("gte", HIGH_RATING),
    ),
    (
        re.compile(r"\b(?:poorly|badly|low|worst) rated\b|\b(?:bad|low) ratings?\b"),
        "rating",
        _rating("lte", LOW_RATING),
    ),
]
