"""The figures of `make bench-v2`, from per-user records: pure, so that a test computes them by hand.

Per variant: LLM cost per user (prompt and completion tokens, engine-seconds: the sum of the calls'
latencies, each stage apart), tag HR@K of the variant's own tags split by who answered (the LLM or a
fallback), the same tags topped up with frequent + transitions against frequent + transitions alone, the share
of the tags' hits outside the statistics' top categories, the cold-start slice, each agent's fallback share,
and duplicates across experts (or routes).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from evaluation import metrics
from recgpt_domain.category_transitions import topped_up
from recgpt_serving.llm.usage import Usage

LLM, FALLBACK, ALL = "llm", "fallback", "all"
# The papers' tag HR@30, and the statistics' top categories a single choose-mode call picks among at most
# (`RankingSettings.tag_route_max_tags`): hits outside them are what the statistics alone would not reach.
K = 30
STATISTICS_TOP = 24
# Users with this many history interactions or fewer are the cold-start slice.
COLD_START_MAX_INTERACTIONS = 3


@dataclass(frozen=True)
class UserCase:
    """What a user's figures are measured against: the held-out target's category and the statistics."""

    user_id: str
    target_category: str
    # Frequent + transitions, ranked, at least K long when the catalogue allows.
    statistics: list[str]
    history_interactions: int


@dataclass
class VariantRun:
    """One variant's answer for one user."""

    # The variant's final tags' categories, in order.
    categories: list[str]
    # True when the tags came from the LLM's answers, False when a non-LLM fallback made them.
    llm: bool
    # Category -> the interest (V2: the persona) of its first tag, what its explanation is written for.
    interests: dict[str, str] = field(default_factory=dict)
    # Stage -> what its calls cost.
    stages: dict[str, Usage] = field(default_factory=dict)
    # Agent -> (calls, fallbacks).
    calls: dict[str, tuple[int, int]] = field(default_factory=dict)
    # Picks across experts (or routes), and those naming a category another pick already named.
    picks: int = 0
    duplicates: int = 0
    # How the answer was made (V2: v2, fewer_personas, v1_tags; others: "").
    path: str = ""
    # V2: personas the planner's answer kept, and those validation dropped (duplicates, unknown categories).
    personas_kept: int = 0
    personas_dropped: int = 0
    # V2: items named by entity tokens across the planner's and the arbiter's prompts, and how many of those
    # two prompts went by entity tokens (0: the text answered, whatever was asked).
    entity_tokens: int = 0
    entity_prompts: int = 0


def _split(values: Sequence[tuple[bool, float]]) -> dict[str, float | None]:
    """Mean by who answered; None for a group without users."""
    llm = [value for is_llm, value in values if is_llm]
    fallback = [value for is_llm, value in values if not is_llm]
    return {
        LLM: metrics.mean(llm) if llm else None,
        FALLBACK: metrics.mean(fallback) if fallback else None,
        ALL: metrics.mean(value for _, value in values) if values else None,
    }


def variant_figures(
    runs: Sequence[tuple[UserCase, VariantRun]],
    failed: int = 0,
    k: int = K,
    statistics_top: int = STATISTICS_TOP,
) -> dict[str, object]:
    """Every figure of one variant over its users (the users the variant answered; `failed` did not)."""
    own = [(run.llm, metrics.hit_rate(run.categories[:k], case.target_category)) for case, run in runs]
    topped = [
        (run.llm, metrics.hit_rate(topped_up(run.categories, case.statistics, k), case.target_category))
        for case, run in runs
    ]
    statistics = [
        (run.llm, metrics.hit_rate(case.statistics[:k], case.target_category)) for case, run in runs
    ]
    hits = [(case, run) for case, run in runs if metrics.hit_rate(run.categories[:k], case.target_category)]
    outside = sum(1 for case, _ in hits if case.target_category not in case.statistics[:statistics_top])
    cold = [(case, run) for case, run in runs if case.history_interactions <= COLD_START_MAX_INTERACTIONS]
    users = len(runs)
    return {
        "users": users,
        "users_failed": failed,
        "users_by_source": {
            LLM: sum(1 for _, r in runs if r.llm),
            FALLBACK: sum(1 for _, r in runs if not r.llm),
        },
        **_cost(runs),
        f"tag_hit_rate_at_{k}": _split(own),
        "topped_up_hit_rate": _split(topped),
        "frequent_transitions_hit_rate": _split(statistics),
        "tags_per_user": metrics.mean(len(run.categories[:k]) for _, run in runs),
        "hits_outside_statistics_top": {
            "top": statistics_top,
            "hits": len(hits),
            "outside": outside,
            "share": outside / len(hits) if hits else None,
        },
        "cold_start": {
            "max_interactions": COLD_START_MAX_INTERACTIONS,
            "users": len(cold),
            "tag_hit_rate": _split(
                [(r.llm, metrics.hit_rate(r.categories[:k], c.target_category)) for c, r in cold]
            ),
            "topped_up_hit_rate": _split(
                [
                    (r.llm, metrics.hit_rate(topped_up(r.categories, c.statistics, k), c.target_category))
                    for c, r in cold
                ]
            ),
            "frequent_transitions_hit_rate": _split(
                [(r.llm, metrics.hit_rate(c.statistics[:k], c.target_category)) for c, r in cold]
            ),
        },
        "fallback_shares": _fallback_shares(runs),
        "duplicates": _duplicates(runs),
        "paths": _paths(runs),
        "personas": {
            "kept": sum(run.personas_kept for _, run in runs),
            "dropped": sum(run.personas_dropped for _, run in runs),
        },
        "entity_tokens": {
            "users_with_entity_prompts": sum(1 for _, run in runs if run.entity_prompts),
            "entity_prompts": sum(run.entity_prompts for _, run in runs),
            "items_per_user": metrics.mean(run.entity_tokens for _, run in runs) if runs else 0.0,
        },
    }


def _cost(runs: Sequence[tuple[UserCase, VariantRun]]) -> dict[str, object]:
    users = len(runs) or 1
    stages: dict[str, Usage] = {}
    for _, run in runs:
        for stage, usage in run.stages.items():
            stages.setdefault(stage, Usage()).merge(usage)
    total = Usage()
    for usage in stages.values():
        total.merge(usage)
    return {
        "prompt_tokens_per_user": total.prompt_tokens / users,
        "completion_tokens_per_user": total.completion_tokens / users,
        "engine_seconds_per_user": total.engine_seconds / users,
        "stages_per_user": {
            stage: {
                "prompt_tokens": usage.prompt_tokens / users,
                "completion_tokens": usage.completion_tokens / users,
                "engine_seconds": usage.engine_seconds / users,
            }
            for stage, usage in sorted(stages.items())
        },
    }


def _fallback_shares(runs: Sequence[tuple[UserCase, VariantRun]]) -> dict[str, dict[str, float | int]]:
    counted: dict[str, list[int]] = {}
    for _, run in runs:
        for agent, (calls, fallbacks) in run.calls.items():
            tally = counted.setdefault(agent, [0, 0])
            tally[0] += calls
            tally[1] += fallbacks
    return {
        agent: {"calls": calls, "fallbacks": fallbacks, "share": fallbacks / calls if calls else 0.0}
        for agent, (calls, fallbacks) in sorted(counted.items())
    }


def _duplicates(runs: Sequence[tuple[UserCase, VariantRun]]) -> dict[str, float | int]:
    picks = sum(run.picks for _, run in runs)
    duplicates = sum(run.duplicates for _, run in runs)
    return {"picks": picks, "duplicates": duplicates, "share": duplicates / picks if picks else 0.0}


def _paths(runs: Sequence[tuple[UserCase, VariantRun]]) -> dict[str, int]:
    paths: dict[str, int] = {}
    for _, run in runs:
        if run.path:
            paths[run.path] = paths.get(run.path, 0) + 1
    return dict(sorted(paths.items()))


def reduction(cheaper: float, dearer: float) -> float | None:
    """1 - cheaper / dearer: the share of the dearer's cost saved (None when the dearer cost nothing)."""
    return 1.0 - cheaper / dearer if dearer > 0 else None
