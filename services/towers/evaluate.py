"""Routes-only evaluation: every route's Recall/NDCG@10/@50 on leave-last-out cases, no LLM, in process.

The tag routes search the user's most frequent categories as tags (the platform's non-LLM tag answer), once
by MiniLM against the content vectors and once through the tag tower against the learned item vectors, so
the tag tower's contribution is measured without an LLM in the loop.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import numpy.typing as npt

from recgpt_domain import cooccurrence
from recgpt_domain.catalogue import Item, UserHistory
from recgpt_domain.fusion import over_baseline
from recgpt_domain.ranking_settings import RankingSettings
from recgpt_domain.towers.artefact import FusionSpread
from recgpt_domain.towers.learned_model import LearnedModel
from towers.cross_fit import Candidate, choose, fold_of, fold_scores, gain_over
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
# The learned ranker over the baseline's candidates (towers.ranker_training), and recgpt-v1 on top of it.
RANKED, RANKED_RECGPT = "ranked_baseline_learned", "ranked_recgpt_v1_learned"


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
    table, _, _ = cooccurrence.build(served, row_of)
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
    # The baseline's learned (collaborative), content and co-occurrence weights; recgpt-v1's beta, the
    # baseline's share beside the tag route (1: the baseline itself).
    collaborative: float
    content: float
    beta: float
    cooccurrence: float = 0.0

    def baseline_routes(self) -> list[tuple[str, float]]:
        return [(LEARNED, self.collaborative), (COLLABORATIVE, self.cooccurrence), (CONTENT, self.content)]

    def recgpt_routes(self, tag_route: str = TAG_TOWER) -> list[tuple[str, float]]:
        return over_baseline_routes(self.baseline_routes(), tag_route, self.beta)


def over_baseline_routes(
    baseline: list[tuple[str, float]], tag_route: str, beta: float
) -> list[tuple[str, float]]:
    """RecGPT-V1 as served: the baseline's routes scaled to beta, the tag route at 1 - beta on top."""
    scaled, tag_weight = over_baseline([weight for _, weight in baseline], beta)
    return [(route, weight) for (route, _), weight in zip(baseline, scaled, strict=True)] + [
        (tag_route, tag_weight)
    ]


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
                ranked, scores = scored(learned_scores[index], seen, TOP_K)
                out.add(LEARNED, (ranked, self.model.relative_probabilities(np.asarray(scores)).tolist()))
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
    """Adds the fused variants: today's (co-occurrence) and, with a model, the learned ones. RecGPT-V1 is
    each baseline's fusion with the tag route on top (its weight 1 - beta)."""
    settings_baseline = [(COLLABORATIVE, settings.collaborative_weight), (CONTENT, settings.content_weight)]
    variants: dict[str, list[tuple[str, float]]] = {
        FUSED_BASELINE: settings_baseline,
        FUSED_RECGPT: over_baseline_routes(settings_baseline, TAG_MINILM, settings.recgpt_v1_beta),
    }
    if weights is not None and LEARNED in lists.lists:
        variants[FUSED_BASELINE_LEARNED] = weights.baseline_routes()
        variants[FUSED_RECGPT_LEARNED] = weights.recgpt_routes()
    for name, parts in variants.items():
        lists.lists[name] = [(ranked, [0.0] * len(ranked)) for ranked in fuse_each(lists, case_list, parts)]


def fuse_each(lists: RouteLists, case_list: Sequence[Case], parts: list[tuple[str, float]]) -> list[Ranked]:
    """Each case's fused list of the weighted routes (routes of no weight left out, as `fuse` does)."""
    return [
        fused(
            [(route, weight, lists.lists[route][index]) for route, weight in parts if weight > 0],
            sorted(set(case.history)),
            TOP_K,
        )
        for index, case in enumerate(case_list)
    ]


def baseline_grid(steps: int) -> list[tuple[Weights, Candidate]]:
    """The whole simplex of learned / co-occurrence / content, so a route no better than the others can
    get no weight."""
    out = []
    for learned in range(steps + 1):
        for cooc in range(steps - learned + 1):
            w = Weights(learned / steps, (steps - learned - cooc) / steps, 1.0, cooc / steps)
            name = f"baseline=learned {w.collaborative:.1f} cooc {w.cooccurrence:.1f} content {w.content:.1f}"
            out.append((w, Candidate(name, (w.collaborative, w.cooccurrence, w.content))))
    return out


def beta_grid(steps: int) -> list[Candidate]:
    """RecGPT-V1's beta from 1 (the baseline alone) down to 0 (the tag route alone): listed first, the
    baseline wins ties, so the tag route gets weight only where it earns it."""
    return [Candidate(f"beta={step / steps:.2f}", (step / steps,)) for step in range(steps, -1, -1)]


@dataclass(frozen=True)
class Chosen:
    weights: Weights
    # What each candidate scored on the whole validation slice, by name.
    report: dict[str, dict[str, float]]
    # Each choice's spread over the folds ("baseline", "recgpt_v1").
    spread: dict[str, FusionSpread]
    folds: int


def _ranks_of(
    lists: RouteLists, case_list: Sequence[Case], report: dict[str, dict[str, float]]
) -> Callable[[str, list[tuple[str, float]]], npt.NDArray[np.int64]]:
    """Scores a named weighting of routes into `report` and returns each case's target rank."""

    def ranks(name: str, parts: list[tuple[str, float]]) -> npt.NDArray[np.int64]:
        fused_lists = fuse_each(lists, case_list, parts)
        report[name] = metrics(fused_lists, case_list)
        return np.asarray([_rank(r, c.target) for r, c in zip(fused_lists, case_list, strict=True)])

    return ranks


def fold_indexes(case_list: Sequence[Case], folds: int) -> tuple[npt.NDArray[np.int64], int]:
    folds = max(1, min(folds, len(case_list)))
    return np.asarray([fold_of(case.user_id, folds) for case in case_list], dtype=np.int64), folds


def choose_beta(
    lists: RouteLists,
    case_list: Sequence[Case],
    baseline: list[tuple[str, float]],
    folds: int = 5,
    beta_steps: int = 20,
    report: dict[str, dict[str, float]] | None = None,
    prefix: str = "",
) -> tuple[float, FusionSpread]:
    """recgpt-v1's beta over a baseline's routes (the tag tower's route on top), cross-fitted over folds; a
    beta below 1 only where its gain over the baseline alone is significant (towers.cross_fit)."""
    fold_index, folds = fold_indexes(case_list, folds)
    ranks = _ranks_of(lists, case_list, report if report is not None else {})
    betas = beta_grid(beta_steps)
    beta_ranks = np.stack(
        [ranks(prefix + c.name, over_baseline_routes(baseline, TAG_TOWER, c.point[0])) for c in betas]
    )
    beta_scores = fold_scores(beta_ranks, fold_index, folds)
    beta = choose(beta_scores, betas, 1 / beta_steps)
    index, spread = beta.index, beta.spread
    if index != 0:  # betas[0] is 1: the baseline alone
        gain = gain_over(beta_ranks[index], beta_ranks[0])
        spread = spread.model_copy(update={"gain": gain.mean, "gain_standard_error": gain.standard_error})
        if not gain.significant():
            spread = spread.model_copy(
                update={
                    "choice": betas[0].name,
                    "per_fold": [float(score) for score in beta_scores[:, 0]],
                    "not_significant": betas[index].name,
                }
            )
            index = 0
    return betas[index].point[0], spread


def choose_weights(
    lists: RouteLists, case_list: Sequence[Case], folds: int = 5, steps: int = 10, beta_steps: int = 20
) -> Chosen:
    """The baseline's learned / co-occurrence / content weights, then recgpt-v1's beta on top of them,
    each cross-fitted over `folds` folds of `case_list` (towers.cross_fit: the best smoothed mean of
    R@10 + R@50; `choose_beta`)."""
    fold_index, folds = fold_indexes(case_list, folds)
    report: dict[str, dict[str, float]] = {}
    ranks = _ranks_of(lists, case_list, report)
    grid = baseline_grid(steps)
    baseline_ranks = np.stack([ranks(c.name, w.baseline_routes()) for w, c in grid])
    baseline = choose(fold_scores(baseline_ranks, fold_index, folds), [c for _, c in grid], 1 / steps)
    chosen = grid[baseline.index][0]
    beta, beta_spread = choose_beta(lists, case_list, chosen.baseline_routes(), folds, beta_steps, report)
    return Chosen(
        replace(chosen, beta=beta),
        report,
        {"baseline": baseline.spread, "recgpt_v1": beta_spread},
        folds,
    )
