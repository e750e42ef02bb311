"""Aggregates the users' results into the evaluation report (JSON) and its terminal table."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence

from pydantic import BaseModel

from evaluation import metrics
from evaluation.runner import COLLABORATIVE, ROUTES, SUBJECTS, TAG, UserEval
from recgpt_serving.llm.usage import Usage

CUTOFFS = (10, 50)
_RETRIEVAL_COLUMNS = ("recall@10", "recall@50", "ndcg@10", "ndcg@50")


class Population(BaseModel):
    """How the evaluated users were chosen and how many made it through."""

    dataset: str
    seed: int
    users_requested: int
    users_eligible: int
    users_selected: int
    dataset_items: int
    # Items of the dataset that the served catalogue lacks; targets among them are skipped.
    dataset_items_not_served: int
    targets_not_served: int
    history_items_not_served: int
    users_failed: int
    # True when the platform's co-occurrence was built from these very interactions, targets included
    # (collaborative figures are then inflated); None when unknown.
    targets_seen_by_platform: bool | None = None


class JudgeRates(BaseModel):
    judged: int
    passed: int
    failed: int
    unspecified: int
    other: int
    pass_rate: float


class Cost(BaseModel):
    prompt_tokens: float
    completion_tokens: float
    engine_seconds: float


class Diversity(BaseModel):
    value: float
    items: int
    pairs: int
    explanations: int
    # Template explanations (the LLM's text was unusable): counted in the diversity like any other.
    fallback_explanations: int
    explain_failures: int


class Report(BaseModel):
    model: str
    population: Population
    users_evaluated: int
    wall_s: float
    concurrency: int
    k_tags: int
    beta: float
    tag_hit_rate: dict[str, float]
    retrieval: dict[str, dict[str, float]]
    exclusive_recall_tag_over_collaborative: dict[str, float]
    explanation_diversity: Diversity
    judge: dict[str, JudgeRates]
    judge_failures: int
    # Means per evaluated user: the pipeline (intent + tags + explain) and, separately, the judge.
    cost_per_user: dict[str, Cost]
    fallback_share: dict[str, float]


def aggregate(
    results: Sequence[UserEval],
    population: Population,
    *,
    wall_s: float,
    concurrency: int,
    k_tags: int,
    beta: float,
) -> Report:
    count = len(results)
    models = Counter(r.model for r in results if r.model)
    return Report(
        model=models.most_common(1)[0][0] if models else "",
        population=population,
        users_evaluated=count,
        wall_s=round(wall_s, 3),
        concurrency=concurrency,
        k_tags=k_tags,
        beta=beta,
        tag_hit_rate={
            arm: metrics.mean(r.tag_hits[arm] for r in results) for arm in ("baseline", "recgpt_v1")
        },
        retrieval={route: _route_metrics(results, route) for route in ROUTES},
        exclusive_recall_tag_over_collaborative={
            f"@{k}": metrics.exclusive_recall(_hits(results, TAG, k), _hits(results, COLLABORATIVE, k))
            for k in CUTOFFS
        },
        explanation_diversity=_diversity(results),
        judge={subject: _judge_rates(results, subject) for subject in SUBJECTS},
        judge_failures=sum(r.judge_failures for r in results),
        cost_per_user={
            "pipeline": _mean_cost([r.usage for r in results]),
            "judge": _mean_cost([r.judge_usage for r in results]),
        },
        fallback_share={
            "interests": metrics.mean(float(r.interests_fallback) for r in results),
            "tags": metrics.mean(float(r.tags_fallback) for r in results),
        },
    )


def _route_metrics(results: Sequence[UserEval], route: str) -> dict[str, float]:
    found: dict[str, float] = {}
    for k in CUTOFFS:
        found[f"recall@{k}"] = metrics.mean(
            metrics.recall_at_k(r.ranked[route], [r.target], k) for r in results
        )
        found[f"ndcg@{k}"] = metrics.mean(metrics.ndcg_at_k(r.ranked[route], [r.target], k) for r in results)
    return found


def _hits(results: Sequence[UserEval], route: str, k: int) -> list[bool]:
    return [r.target in r.ranked[route][:k] for r in results]


def _diversity(results: Sequence[UserEval]) -> Diversity:
    by_item: defaultdict[str, list[str]] = defaultdict(list)
    for result in results:
        for item_id, text in result.explanations:
            by_item[item_id].append(text)
    value, items, pairs = metrics.diversity(by_item)
    return Diversity(
        value=value,
        items=items,
        pairs=pairs,
        explanations=sum(len(texts) for texts in by_item.values()),
        fallback_explanations=sum(r.explanation_fallbacks for r in results),
        explain_failures=sum(r.explain_failed for r in results),
    )


def _judge_rates(results: Sequence[UserEval], subject: str) -> JudgeRates:
    total: Counter[str] = Counter()
    for result in results:
        total.update(result.verdicts.get(subject, Counter()))
    judged = total["pass"] + total["fail"] + total["other"]
    return JudgeRates(
        judged=judged,
        passed=total["pass"],
        failed=total["fail"],
        unspecified=total["unspecified"],
        other=total["other"],
        pass_rate=total["pass"] / judged if judged else 0.0,
    )


def _mean_cost(usages: Sequence[Usage]) -> Cost:
    return Cost(
        prompt_tokens=metrics.mean(u.prompt_tokens for u in usages),
        completion_tokens=metrics.mean(u.completion_tokens for u in usages),
        engine_seconds=metrics.mean(u.engine_seconds for u in usages),
    )


def table(report: Report) -> str:
    """The report as a few aligned tables for the terminal."""
    p = report.population
    lines = [
        f"dataset {p.dataset}  model {report.model or '?'}  seed {p.seed}",
        f"users: {report.users_evaluated} evaluated of {p.users_selected} selected "
        f"({p.users_eligible} eligible, {p.users_requested} requested); {p.users_failed} failed, "
        f"{p.targets_not_served} targets not in the served catalogue "
        f"({p.dataset_items_not_served} of {p.dataset_items} dataset items not served)",
        f"wall {report.wall_s:.1f} s at concurrency {report.concurrency}",
        *(
            [
                "WARNING: the platform was built from these very interactions, targets included: the "
                "collaborative figures are inflated (bring it up with RECGPT_STACK_HOLD_OUT_LAST=1, "
                "as `make eval` does)"
            ]
            if p.targets_seen_by_platform
            else []
        ),
        "",
        f"Tag HR@{report.k_tags}: baseline (most frequent history categories) "
        f"{report.tag_hit_rate['baseline']:.4f}   recgpt-v1 {report.tag_hit_rate['recgpt_v1']:.4f}",
        "",
        f"{'route':<18}"
        + "".join(f"{name:>11}" for name in ("recall@10", "recall@50", "ndcg@10", "ndcg@50")),
    ]
    for route, values in report.retrieval.items():
        lines.append(f"{route:<18}" + "".join(f"{values[name]:>11.4f}" for name in _RETRIEVAL_COLUMNS))
    exclusive = report.exclusive_recall_tag_over_collaborative
    diversity = report.explanation_diversity
    lines += [
        f"(fused_recgpt_v1 = {report.beta:g}·collaborative + {1 - report.beta:g}·tag; "
        "fused_baseline = 0.6·collaborative + 0.4·content)",
        f"exclusive recall tag over collaborative: @10 {exclusive['@10']:.4f}  @50 {exclusive['@50']:.4f}",
        "",
        f"explanation diversity (1 - mean ROUGE-L within an item): {diversity.value:.4f} over "
        f"{diversity.items} items / {diversity.pairs} pairs ({diversity.explanations} explanations, "
        f"{diversity.fallback_explanations} from the template, {diversity.explain_failures} failed calls)",
        "",
        f"{'judge':<14}{'judged':>8}{'pass':>8}{'fail':>8}{'unspec':>8}{'pass rate':>11}",
    ]
    for subject, rates in report.judge.items():
        lines.append(
            f"{subject:<14}{rates.judged:>8}{rates.passed:>8}{rates.failed:>8}{rates.unspecified:>8}"
            f"{rates.pass_rate:>11.4f}"
        )
    lines.append(f"(judge calls failed: {report.judge_failures})")
    lines += ["", f"{'cost per user':<14}{'prompt tok':>12}{'compl. tok':>12}{'engine s':>10}"]
    for name, cost in report.cost_per_user.items():
        lines.append(
            f"{name:<14}{cost.prompt_tokens:>12.1f}{cost.completion_tokens:>12.1f}{cost.engine_seconds:>10.2f}"
        )
    shares = report.fallback_share
    lines.append(f"\nfallback share: interests {shares['interests']:.4f}  tags {shares['tags']:.4f}")
    return "\n".join(lines)
