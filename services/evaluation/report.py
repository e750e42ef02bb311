"""Aggregates the users' results into the evaluation report (JSON); `evaluation.table` prints it.

Every figure an LLM answer feeds is split by who answered: `llm` over the users (or artefacts) the LLM
answered, `fallback` over those an agent's non-LLM fallback answered, and `all`. A user counts as `llm` when
the LLM answered both the interests and the tags of their profile; an explanation by its own provenance.
The tag figures are split once more by the tag agent's own answer alone (`tag_hit_rate_by_tag_answer`): a
tag answer is judged by itself, whoever answered the interests. A group with no member reports null, never 0.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import Any

from pydantic import BaseModel

from evaluation import metrics
from evaluation.leakage import LoadedCooccurrence
from evaluation.runner import (
    COLLABORATIVE,
    FALLBACK,
    LEARNED,
    LLM,
    ROUTES,
    SOURCES,
    SUBJECTS,
    TAG,
    TAG_ARMS,
    UserEval,
)
from recgpt_domain.category_transitions import CategoryTransitions
from recgpt_domain.profile_answers import TAGS
from recgpt_domain.ranking_settings import RankingSettings
from recgpt_serving.llm.usage import Usage

CUTOFFS = (10, 50)
ALL = "all"
ROUGE = "rouge-score 0.1.2, ROUGE-L F-measure, no stemming"
SELECTION_RULE = (
    "leave-last-out: users with at least two interactions, drawn by the seed; each user's last "
    "interaction is the target, the others (oldest first) the history"
)


class BySource(BaseModel):
    """One figure over the LLM's users (or artefacts), the fallback's, and all; null for an empty group."""

    llm: float | None
    fallback: float | None
    all: float | None


class Selection(BaseModel):
    """How the users were chosen and what the platform holds of them, known before any is evaluated."""

    dataset: str
    seed: int
    rule: str = SELECTION_RULE
    requested: int
    eligible: int
    selected: int
    dataset_items: int
    # Items of the dataset that the served catalogue lacks; targets among them are skipped.
    dataset_items_not_served: int
    targets_not_served: int
    history_items_not_served: int
    # The co-occurrence table retrieval loaded, and whether it counted these users' targets (None: unknown).
    cooccurrence: LoadedCooccurrence | None
    targets_seen_by_platform: bool | None


class Users(Selection):
    """Exactly which users were evaluated, and what the platform saw of them."""

    # What the platform's data held of these users (its co-occurrence table), and what the services were
    # given of them in the run.
    platform_saw: str
    services_saw: str = (
        'each user as "eval:<dataset user id>", with the history (items the served catalogue lacks dropped) '
        "in every request: no stored profile, behaviour log or cached explanation is read, and "
        "explanations are written afresh past the cache"
    )
    evaluated: int
    failed: int
    failed_ids: list[str]
    # Evaluated dataset user ids by who answered their profile.
    ids: dict[str, list[str]]
    count: dict[str, int]
    share: dict[str, float]


class JudgeRates(BaseModel):
    judged: int
    passed: int
    failed: int
    unspecified: int
    other: int
    pass_rate: float | None


class Cost(BaseModel):
    prompt_tokens: float
    completion_tokens: float
    engine_seconds: float


class Diversity(BaseModel):
    value: float | None
    items: int
    pairs: int
    explanations: int


class ExplanationDiversity(BaseModel):
    """1 - mean ROUGE-L over pairs of texts about the same item; the template's texts apart (`fallback`)."""

    rouge: str = ROUGE
    llm: Diversity
    fallback: Diversity
    all: Diversity
    # Share of the explanations the LLM wrote, and the template.
    share: dict[str, float]
    explain_failures: int


class TransitionsCounted(BaseModel):
    training_users: int
    transitions: int
    categories: int


class Report(BaseModel):
    model: str
    # How serving ranks (RankingSettings), as read by this run: tag count, fusion weights, beta, ...
    served: dict[str, Any]
    users: Users
    wall_s: float
    concurrency: int
    # K of tag HR@K: the tags the tag route searches (RankingSettings.tag_route_max_tags).
    k_tags: int
    tags_searched_mean: BySource
    tag_hit_rate: dict[str, BySource]
    # The same, `llm` being the users whose tags the LLM answered (whoever answered their interests).
    tag_hit_rate_by_tag_answer: dict[str, BySource] = {}
    # What frequent + transitions counted: training users (never an evaluated one) and their transitions.
    tag_transitions: TransitionsCounted
    retrieval: dict[str, dict[str, BySource]]
    exclusive_recall_tag_over_collaborative: dict[str, BySource]
    explanation_diversity: ExplanationDiversity
    judge: dict[str, dict[str, JudgeRates]]
    judge_failures: int
    # Means per evaluated user: the pipeline (intent + tags + explain) and, separately, the judge.
    cost_per_user: dict[str, Cost]
    # Share of evaluated users whose interests / tags / profile a fallback answered.
    fallback_share: dict[str, float]
    # Agent -> the LoRA adapter its answers came from ("base" for the base model) -> users, by provenance.
    adapters: dict[str, dict[str, int]] = {}
    # Agent -> the prompt version its answers carried (the tag agent's names its mode) -> users.
    prompt_versions: dict[str, dict[str, int]] = {}


def aggregate(
    results: Sequence[UserEval],
    selection: Selection,
    *,
    failed_ids: Sequence[str],
    ranking: RankingSettings,
    wall_s: float,
    concurrency: int,
    transitions: CategoryTransitions | None = None,
) -> Report:
    counted = transitions or CategoryTransitions()
    models = Counter(r.model for r in results if r.model)
    groups = {source: [r for r in results if r.profile_source == source] for source in SOURCES}
    return Report(
        model=models.most_common(1)[0][0] if models else "",
        served=ranking.model_dump(),
        users=_users(results, selection, failed_ids, groups),
        wall_s=round(wall_s, 3),
        concurrency=concurrency,
        k_tags=ranking.tag_route_max_tags,
        tags_searched_mean=_mean(results, _tags_searched),
        tag_hit_rate={arm: _mean(results, partial(_tag_hit, arm=arm)) for arm in TAG_ARMS},
        tag_hit_rate_by_tag_answer={
            arm: _mean(results, partial(_tag_hit, arm=arm), by=_tag_answer) for arm in TAG_ARMS
        },
        tag_transitions=TransitionsCounted(
            training_users=counted.users, transitions=counted.transitions, categories=len(counted.follows)
        ),
        # The learned route only when every evaluated user got it (retrieval served a towers artefact).
        retrieval={
            route: _route_metrics(results, route)
            for route in ROUTES
            if route != LEARNED or (results and all(LEARNED in result.ranked for result in results))
        },
        exclusive_recall_tag_over_collaborative={
            f"@{k}": _split(results, partial(_exclusive_recall, k=k)) for k in CUTOFFS
        },
        explanation_diversity=_diversity(results),
        judge={subject: _judge_rates(results, subject) for subject in SUBJECTS},
        judge_failures=sum(r.judge_failures for r in results),
        cost_per_user={
            "pipeline": _mean_cost([r.usage for r in results]),
            "judge": _mean_cost([r.judge_usage for r in results]),
        },
        fallback_share={
            "interests": metrics.mean(float("interests" in r.fallback_parts) for r in results),
            "tags": metrics.mean(float("tags" in r.fallback_parts) for r in results),
            "profile": metrics.mean(float(r.profile_source == FALLBACK) for r in results),
        },
        adapters=_users_by_agent(results, lambda result: result.adapters, empty="base"),
        prompt_versions=_users_by_agent(results, lambda result: result.prompt_versions, empty="unknown"),
    )


def _users_by_agent(
    results: Sequence[UserEval], answered: Callable[[UserEval], Mapping[str, str]], *, empty: str
) -> dict[str, dict[str, int]]:
    """Agent -> what answered a user (`empty` when provenance named nothing) -> users."""
    used: defaultdict[str, Counter[str]] = defaultdict(Counter)
    for result in results:
        for agent, name in answered(result).items():
            used[agent][name or empty] += 1
    return {agent: dict(counts.most_common()) for agent, counts in sorted(used.items())}


def _profile(result: UserEval) -> str:
    return result.profile_source


def _tag_answer(result: UserEval) -> str:
    return FALLBACK if TAGS in result.fallback_parts else LLM


def _split(
    results: Sequence[UserEval],
    figure: Callable[[Sequence[UserEval]], float],
    by: Callable[[UserEval], str] = _profile,
) -> BySource:
    """`figure` over each group of users (`by` names a user's group); null for a group with no user."""
    values: dict[str, float | None] = {}
    for name in (*SOURCES, ALL):
        members = results if name == ALL else [r for r in results if by(r) == name]
        values[name] = figure(members) if members else None
    return BySource.model_validate(values)


def _mean(
    results: Sequence[UserEval], value: Callable[[UserEval], float], by: Callable[[UserEval], str] = _profile
) -> BySource:
    """The mean of a per-user `value` over each group of users."""

    def mean_of(members: Sequence[UserEval]) -> float:
        return metrics.mean(value(member) for member in members)

    return _split(results, mean_of, by)


def _tags_searched(result: UserEval) -> float:
    return float(result.tags_searched)


def _tag_hit(result: UserEval, arm: str) -> float:
    return result.tag_hits[arm]


def _recall(result: UserEval, route: str, k: int) -> float:
    return metrics.recall_at_k(result.ranked[route], [result.target], k)


def _ndcg(result: UserEval, route: str, k: int) -> float:
    return metrics.ndcg_at_k(result.ranked[route], [result.target], k)


def _exclusive_recall(results: Sequence[UserEval], k: int) -> float:
    """Share of the users whose target the tag route hit at k and the collaborative route did not."""
    return metrics.exclusive_recall(_hits(results, TAG, k), _hits(results, COLLABORATIVE, k))


def _users(
    results: Sequence[UserEval],
    selection: Selection,
    failed_ids: Sequence[str],
    groups: dict[str, list[UserEval]],
) -> Users:
    evaluated = len(results)
    if selection.targets_seen_by_platform is None:
        saw = (
            "unknown: retrieval's co-occurrence was built from another log than this dataset's"
            if selection.cooccurrence is not None
            else "unknown: retrieval did not say what its co-occurrence was built from"
        )
    elif selection.targets_seen_by_platform:
        saw = (
            "every interaction, targets included: retrieval's co-occurrence counted each target beside its "
            "history (the collaborative figures are inflated)"
        )
    else:
        saw = (
            "each user's history without its target: retrieval's co-occurrence was built from this dataset "
            "with every user's last interaction held out"
        )
    return Users(
        **selection.model_dump(),
        platform_saw=saw,
        evaluated=evaluated,
        failed=len(failed_ids),
        failed_ids=list(failed_ids),
        ids={source: [r.user_id for r in members] for source, members in groups.items()},
        count={**{source: len(members) for source, members in groups.items()}, ALL: evaluated},
        share={source: len(members) / evaluated if evaluated else 0.0 for source, members in groups.items()},
    )


def _route_metrics(results: Sequence[UserEval], route: str) -> dict[str, BySource]:
    found: dict[str, BySource] = {}
    for k in CUTOFFS:
        found[f"recall@{k}"] = _mean(results, partial(_recall, route=route, k=k))
        found[f"ndcg@{k}"] = _mean(results, partial(_ndcg, route=route, k=k))
    return found


def _hits(results: Sequence[UserEval], route: str, k: int) -> list[bool]:
    return [r.target in r.ranked[route][:k] for r in results]


def _diversity(results: Sequence[UserEval]) -> ExplanationDiversity:
    by_source: dict[str, defaultdict[str, list[str]]] = {name: defaultdict(list) for name in (*SOURCES, ALL)}
    for result in results:
        for explained in result.explanations:
            own = FALLBACK if explained.fallback else LLM
            by_source[own][explained.item_id].append(explained.text)
            by_source[ALL][explained.item_id].append(explained.text)
    figures: dict[str, Diversity] = {}
    for name, texts_by_item in by_source.items():
        value, items, pairs = metrics.diversity(texts_by_item)
        figures[name] = Diversity(
            value=value if pairs else None,
            items=items,
            pairs=pairs,
            explanations=sum(len(texts) for texts in texts_by_item.values()),
        )
    total = figures[ALL].explanations
    return ExplanationDiversity(
        llm=figures[LLM],
        fallback=figures[FALLBACK],
        all=figures[ALL],
        share={name: figures[name].explanations / total if total else 0.0 for name in SOURCES},
        explain_failures=sum(r.explain_failed for r in results),
    )


def _judge_rates(results: Sequence[UserEval], subject: str) -> dict[str, JudgeRates]:
    totals: dict[str, Counter[str]] = {name: Counter() for name in (*SOURCES, ALL)}
    for result in results:
        for own, counts in result.verdicts.get(subject, {}).items():
            totals[own].update(counts)
            totals[ALL].update(counts)
    return {name: _rates(total) for name, total in totals.items()}


def _rates(total: Counter[str]) -> JudgeRates:
    judged = total["pass"] + total["fail"] + total["other"]
    return JudgeRates(
        judged=judged,
        passed=total["pass"],
        failed=total["fail"],
        unspecified=total["unspecified"],
        other=total["other"],
        pass_rate=total["pass"] / judged if judged else None,
    )


def _mean_cost(usages: Sequence[Usage]) -> Cost:
    return Cost(
        prompt_tokens=metrics.mean(u.prompt_tokens for u in usages),
        completion_tokens=metrics.mean(u.completion_tokens for u in usages),
        engine_seconds=metrics.mean(u.engine_seconds for u in usages),
    )
