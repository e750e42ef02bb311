"""Routes-only evaluation: every route's Recall/NDCG@10/@50 on leave-last-out cases, no LLM, in process.

The tag routes search the user's most frequent categories as tags (the platform's non-LLM tag answer), once
by MiniLM against the content vectors and once through the tag tower against the learned item vectors, so
the tag tower's contribution is measured without an LLM in the loop.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from recgpt_domain import cooccurrence
from recgpt_domain.catalogue import Item, UserHistory
from recgpt_domain.ranking_settings import RankingSettings
from recgpt_domain.towers.learned_model import LearnedModel
from towers.offline_routes import (
    Ranked,
    RouteContext,
    Vectors,
    frequent_categories,
    fused,
    per_tag,
    recent_distinct,
    scored,
)
from towers.ranking import metrics_from_ranks

Scored = tuple[Ranked, list[float]]
TOP_K = 50
LEARNED, COLLABORATIVE, CONTENT, POPULAR = "learned", "collaborative", "content", "popularity"
TAG_MINILM, TAG_TOWER = "tag_minilm", "tag_tower"
FUSED_BASELINE, FUSED_BASELINE_LEARNED = "fused_baseline", "fused_baseline_learned"
FUSED_RECGPT, FUSED_RECGPT_LEARNED = "fused_recgpt_v1", "fused_recgpt_v1_learned"
FUSED_LEARNED_COLLABORATIVE = "fused_learned_collaborative"


@dataclass(frozen=True)
class Case:
    user_id: str
    history: list[int]  # rows, oldest first
    target: int


@dataclass
class CaseCount:
    users: int = 0
    evaluated: int = 0
    too_short: int = 0
    unknown_target: int = 0
    unknown_history_items: int = 0


def cases(histories: Sequence[UserHistory], row_of: dict[str, int]) -> tuple[list[Case], CaseCount]:
    """Leave-last-out over every user with two or more interactions; unknown items counted, not guessed."""
    count = CaseCount()
    out: list[Case] = []
    for history in histories:
        count.users += 1
        if len(history.interactions) < 2:
            count.too_short += 1
            continue
        *before, last = history.interactions
        if last.item_id not in row_of:
            count.unknown_target += 1
            continue
        rows = [row_of[i.item_id] for i in before if i.item_id in row_of]
        count.unknown_history_items += len(before) - len(rows)
        if not rows:
            count.too_short += 1
            continue
        out.append(Case(history.user_id, rows, row_of[last.item_id]))
    count.evaluated = len(out)
    return out, count


def route_context(
    items: Sequence[Item],
    histories: Sequence[UserHistory],
    content_vectors: Vectors,
    settings: RankingSettings,
) -> RouteContext:
    """Co-occurrence and popularity of the served log, each user's last interaction held out."""
    row_of = {item.item_id: row for row, item in enumerate(items)}
    served = [UserHistory(user_id=h.user_id, interactions=h.interactions[:-1]) for h in histories]
    table, _, _ = cooccurrence.build(served, row_of, window=5, top_n=100)
    return RouteContext(table.popularity, table, content_vectors)


@dataclass
class RouteLists:
    """Per route, each case's ranked rows (top 50), in case order."""

    lists: dict[str, list[Scored]] = field(default_factory=dict)

    def add(self, route: str, ranked: Scored) -> None:
        self.lists.setdefault(route, []).append(ranked)

    def rows(self, route: str) -> list[Ranked]:
        return [ranked for ranked, _ in self.lists[route]]


def _rank(ranked: Ranked, target: int) -> int:
    return ranked.index(target) if target in ranked else 1 << 30


def metrics(lists: Sequence[Ranked], evaluated: Sequence[Case]) -> dict[str, float]:
    ranks = np.asarray([_rank(r, c.target) for r, c in zip(lists, evaluated, strict=True)], dtype=np.int64)
    return metrics_from_ranks(ranks)


def exclusive_recall(
    own: Sequence[Ranked], other: Sequence[Ranked], evaluated: Sequence[Case], k: int
) -> float:
    """Share of users whose target the own route hit at k and the other did not."""
    hits = [
        c.target in a[:k] and c.target not in b[:k] for a, b, c in zip(own, other, evaluated, strict=True)
    ]
    return sum(hits) / max(len(hits), 1)


@dataclass(frozen=True)
class Weights:
    # The baseline's learned (collaborative), content and co-occurrence weights; recgpt-v1's beta.
    collaborative: float
    content: float
    beta: float
    cooccurrence: float = 0.0

    def baseline_routes(self) -> list[tuple[str, float]]:
        return [(LEARNED, self.collaborative), (COLLABORATIVE, self.cooccurrence), (CONTENT, self.content)]


class RouteRunner:
    """Ranks every route for a case; the tag texts' MiniLM vectors are given per category name."""

    def __init__(
        self,
        context: RouteContext,
        model: LearnedModel | None,
        item_category: Sequence[str],
        category_vectors: dict[str, Vectors],
        settings: RankingSettings,
    ) -> None:
        self.context = context
        self.model = model
        self.item_category = item_category
        self.category_vectors = category_vectors
        self.settings = settings

    def base_routes(self, case_list: Sequence[Case]) -> RouteLists:
        out = RouteLists()
        context, settings = self.context, self.settings
        learned_scores = None
        if self.model is not None and case_list:
            users = self.model.user_vectors([case.history for case in case_list])
            learned_scores = users @ self.model.item_vectors.T
        for index, case in enumerate(case_list):
            seeds = recent_distinct(case.history, settings.recent_items)
            seen = sorted(set(case.history))
            out.add(POPULAR, context.popular(seen, TOP_K))
            out.add(COLLABORATIVE, context.collaborative(seeds, seen, TOP_K))
            out.add(CONTENT, context.content(seeds, seen, TOP_K))
            tags = frequent_categories(case.history, self.item_category, settings.tag_route_max_tags)
            tag_text = np.stack([self.category_vectors[tag] for tag in tags])
            out.add(
                TAG_MINILM,
                per_tag(tag_text @ context.content_vectors.T, seen, settings.tag_route_per_tag_k, TOP_K),
            )
            if self.model is not None and learned_scores is not None:
                out.add(LEARNED, scored(learned_scores[index], seen, TOP_K))
                tag_vectors = self.model.tag_vectors(tag_text)
                out.add(
                    TAG_TOWER,
                    per_tag(
                        tag_vectors @ self.model.item_vectors.T, seen, settings.tag_route_per_tag_k, TOP_K
                    ),
                )
        return out


def fused_routes(
    lists: RouteLists, case_list: Sequence[Case], settings: RankingSettings, weights: Weights | None
) -> None:
    """Adds the fused variants: today's (co-occurrence) and, with a model, the learned ones."""
    variants: dict[str, list[tuple[str, float]]] = {
        FUSED_BASELINE: [(COLLABORATIVE, settings.collaborative_weight), (CONTENT, settings.content_weight)],
        FUSED_RECGPT: [(COLLABORATIVE, settings.recgpt_v1_beta), (TAG_MINILM, 1 - settings.recgpt_v1_beta)],
    }
    if weights is not None and LEARNED in lists.lists:
        variants[FUSED_BASELINE_LEARNED] = weights.baseline_routes()
        variants[FUSED_RECGPT_LEARNED] = [(LEARNED, weights.beta), (TAG_TOWER, 1 - weights.beta)]
    for name, parts in variants.items():
        for index, case in enumerate(case_list):
            routes = [(route, weight, lists.lists[route][index]) for route, weight in parts]
            ranked = fused(routes, sorted(set(case.history)), TOP_K)
            lists.add(name, (ranked, [0.0] * len(ranked)))


def choose_weights(
    lists: RouteLists, case_list: Sequence[Case], steps: int = 10
) -> tuple[Weights, dict[str, dict[str, float]]]:
    """The baseline's learned / co-occurrence / content weights (a grid over the whole simplex, so that a
    model no better than co-occurrence gets no weight) and V1's beta (learned vs tag tower, a grid over
    [0, 1]): each the best R@10 + R@50 on `case_list`."""
    report: dict[str, dict[str, float]] = {}

    def score(name: str, parts: list[tuple[str, float]]) -> float:
        """R@10 + R@50 of the fusion `parts` on `case_list` (kept in the report under `name`)."""
        fused_lists = [
            fused(
                [(route, weight, lists.lists[route][index]) for route, weight in parts if weight > 0],
                sorted(set(case.history)),
                TOP_K,
            )
            for index, case in enumerate(case_list)
        ]
        report[name] = metrics(fused_lists, case_list)
        return report[name]["recall@10"] + report[name]["recall@50"]

    simplex = [
        Weights(learned / steps, (steps - learned - cooc) / steps, 0.0, cooc / steps)
        for learned in range(steps + 1)
        for cooc in range(steps - learned + 1)
    ]
    baseline_scores = [
        score(
            f"baseline=learned {w.collaborative:.1f} cooc {w.cooccurrence:.1f} content {w.content:.1f}",
            w.baseline_routes(),
        )
        for w in simplex
    ]
    betas = [step / steps for step in range(steps + 1)]
    beta_scores = [score(f"beta={b:.1f}", [(LEARNED, b), (TAG_TOWER, 1 - b)]) for b in betas]
    # The first best of each grid, as the grids are ordered.
    baseline = simplex[baseline_scores.index(max(baseline_scores))]
    beta = betas[beta_scores.index(max(beta_scores))]
    return Weights(baseline.collaborative, baseline.content, beta, baseline.cooccurrence), report
