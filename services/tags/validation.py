"""Checks every tag the LLM predicted; each one dropped is counted by reason.

Text checks first (shape, placeholders, duplicates), then the ones that need embeddings: the tag's
interest must be one of the request's (or close to one), the tag must map to some catalogue category
(else it is off-topic), and it must not name an item the user already has.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from recgpt.common.v1 import common_pb2
from recgpt_domain.category_map import CategoryMapper
from recgpt_domain.category_tags import shape_problem
from recgpt_domain.embedder import Vectors
from recgpt_domain.prompt_text import normalise
from recgpt_serving import metrics
from tags.prompts import AGENT
from tags.schema import RATIONALE_MAX_CHARS, PredictedTag
from tags.settings import TagsSettings

_SPACES = re.compile(r"\s+")


def drop(reason: str) -> None:
    metrics.AGENT_DROPPED_OUTPUTS.labels(AGENT, reason).inc()


def _shorten(text: str, limit: int) -> str:
    text = _SPACES.sub(" ", text).strip()
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


@dataclass
class _Candidate:
    tag: str
    interest: str
    rationale: str


class TagChecker:
    """Turns predicted tags into validated `Tag` messages with their categories; CPU-bound (embeddings)."""

    def __init__(self, settings: TagsSettings, mapper: CategoryMapper) -> None:
        self.settings = settings
        self.mapper = mapper
        self.encoder = mapper.encoder

    def clean(
        self,
        predicted: Sequence[PredictedTag],
        interests: Sequence[str],
        seen_titles: Sequence[str],
        limit: int,
    ) -> list[common_pb2.Tag]:
        candidates = self._tie_interests(self._well_formed(predicted), interests)
        if not candidates:
            return []
        vectors = self.encoder.encode([candidate.tag for candidate in candidates])
        matches = self.mapper.match_vectors(vectors)
        owned = self._owned(candidates, vectors, seen_titles)
        kept: list[common_pb2.Tag] = []
        for candidate, match, is_owned in zip(candidates, matches, owned, strict=True):
            if match.score < self.settings.tag_min_category_score:
                drop("off_topic")
            elif is_owned:
                drop("owned_item")
            elif len(kept) >= limit:
                drop("over_limit")
            else:
                kept.append(
                    common_pb2.Tag(
                        tag=candidate.tag,
                        interest=candidate.interest,
                        rationale=candidate.rationale,
                        category=match.category,
                        category_score=match.score,
                    )
                )
        return kept

    def _well_formed(self, predicted: Sequence[PredictedTag]) -> list[_Candidate]:
        seen: set[str] = set()
        kept = []
        for entry in predicted:
            text = _SPACES.sub(" ", entry.tag).strip()
            problem = shape_problem(text)
            key = normalise(text)
            if problem is None and key in seen:
                problem = "duplicate"
            if problem is not None:
                drop(problem)
                continue
            seen.add(key)
            kept.append(
                _Candidate(
                    text,
                    _SPACES.sub(" ", entry.interest).strip(),
                    _shorten(entry.rationale, RATIONALE_MAX_CHARS),
                )
            )
        return kept

    def _tie_interests(self, candidates: list[_Candidate], interests: Sequence[str]) -> list[_Candidate]:
        """Each tag's interest spelled as in the request; re-tied by similarity, else the tag is dropped."""
        exact = {normalise(interest): interest for interest in interests}
        loose = sorted({c.interest for c in candidates if normalise(c.interest) not in exact and c.interest})
        closest: dict[str, str] = {}
        if loose and interests:
            similarities = self.encoder.encode(loose) @ self.encoder.encode(list(interests)).T
            for row, text in enumerate(loose):
                column = int(similarities[row].argmax())
                if similarities[row, column] >= self.settings.tag_interest_min_score:
                    closest[text] = interests[column]
        kept = []
        for candidate in candidates:
            interest = exact.get(normalise(candidate.interest)) or closest.get(candidate.interest)
            if interest is None:
                drop("unknown_interest")
                continue
            candidate.interest = interest
            kept.append(candidate)
        return kept

    def _owned(
        self, candidates: Sequence[_Candidate], vectors: Vectors, seen_titles: Sequence[str]
    ) -> list[bool]:
        """Whether each tag names an item the user has: same normalised title, or a near-same embedding."""
        titles = [title for title in dict.fromkeys(seen_titles) if title.strip()]
        if not titles:
            return [False] * len(candidates)
        normalised_titles = {normalise(title) for title in titles}
        closest = (vectors @ self.encoder.encode(titles).T).max(axis=1)
        return [
            normalise(candidate.tag) in normalised_titles
            or float(score) >= self.settings.owned_item_min_score
            for candidate, score in zip(candidates, closest.tolist(), strict=True)
        ]

    def tie_to_interests(self, tags: list[common_pb2.Tag], interests: Sequence[str]) -> list[common_pb2.Tag]:
        """Fallback tags get the request interest closest to their category (they come tied to themselves)."""
        if not tags or not interests:
            return tags
        similarities = self.encoder.encode([tag.tag for tag in tags]) @ self.encoder.encode(list(interests)).T
        for row, tag in enumerate(tags):
            tag.interest = interests[int(similarities[row].argmax())]
        return tags
