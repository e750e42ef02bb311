"""Tags ranked by the model's likelihood: the model orders catalogue categories instead of writing tags.

Free generation from a small model repeats itself and names few categories, and half its tags map to no
category. In ranking mode (`RECGPT_TAG_MODE=rank`) the statistics propose each user's candidates (their
frequent categories, then the categories that most often follow their last one, then the most taken), each
named by its category tag (`recgpt_domain.category_tags`) and written as the tag agent's answer would start,
`{"tags": [{"tag": "<category tag>"`; the model scores each by its log probability after the agent's prompt,
and the list served is that order fused with the statistics' own by reciprocal ranks. Every tag names a
catalogue category by construction. The offline evaluation (`agent_training.ranking`) scores the same text.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from recgpt.common.v1 import common_pb2
from recgpt_domain.behaviour_context import BehaviourContext
from recgpt_domain.catalogue import Item, UserHistory
from recgpt_domain.category_tags import category_tags
from recgpt_domain.category_transitions import CategoryTransitions, category_sequences, topped_up

# How the tag agent's JSON answer starts: a candidate is scored as its first tag.
ANSWER_PREFIX = '{"tags": [{"tag": "'
ANSWER_AFTER_TAG = '"'
# Reciprocal-rank fusion's constant (the customary 60: ranks past the first few weigh little more than none).
RRF_K = 60


def named_category_tags(
    categories: Sequence[str], names: Mapping[str, str], rationale: str
) -> list[common_pb2.Tag]:
    """A tag per category, named by its category tag (`Candidates.names`): it maps to it by construction."""
    return [
        common_pb2.Tag(
            tag=names[category],
            interest=category,
            rationale=rationale,
            category=category,
            category_score=1.0,
        )
        for category in categories
    ]


def answer_start(tag: str) -> str:
    """The answer whose likelihood scores `tag`: the JSON opening, the tag, its closing quote."""
    return f"{ANSWER_PREFIX}{tag}{ANSWER_AFTER_TAG}"


@dataclass(frozen=True)
class Candidates:
    """Where ranking mode's candidates come from: category transitions, and the tag naming each category."""

    transitions: CategoryTransitions
    names: Mapping[str, str]

    @classmethod
    def count(cls, histories: Iterable[UserHistory], items: Mapping[str, Item]) -> Candidates:
        """From the users' histories as the platform holds them (held-out items are not in them)."""
        return cls(
            CategoryTransitions.count(category_sequences(histories, items)), category_tags(items.values())
        )

    def pool(self, behaviour: BehaviourContext, items: Mapping[str, Item], size: int) -> list[str]:
        """The statistics' top `size` nameable categories for this user, in the statistics' order."""
        frequent = [c for c, _ in behaviour.top_categories if c in self.names]
        last = next((items[i].category for i in behaviour.recent_item_ids if i in items), "")
        following = (c for c in self.transitions.after(last) if c in self.names)
        return topped_up(frequent, following, size)


def by_score(candidates: Sequence[str], scores: Sequence[float]) -> list[str]:
    """Candidates from the highest score down (the pool's own order breaks ties)."""
    order = sorted(range(len(candidates)), key=lambda i: (-scores[i], i))
    return [candidates[i] for i in order]


def fuse(*rankings: Sequence[str]) -> list[str]:
    """Reciprocal-rank fusion of rankings of the same pool (the first ranking breaks ties)."""
    score: dict[str, float] = {}
    for ranking in rankings:
        for rank, name in enumerate(ranking):
            score[name] = score.get(name, 0.0) + 1.0 / (RRF_K + rank + 1)
    first = {name: rank for rank, name in enumerate(rankings[0])}
    return sorted(score, key=lambda name: (-score[name], first.get(name, len(first))))
