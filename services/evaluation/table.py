"""The evaluation report as aligned tables for the terminal: every LLM figure as llm / fallback / all."""

from __future__ import annotations

from collections.abc import Mapping

from evaluation.report import BySource, Diversity, Report
from evaluation.runner import FALLBACK, LLM

_METRICS = ("recall@10", "recall@50", "ndcg@10", "ndcg@50")
_LABEL = 30
_TAG_ARM_LABELS = (
    ("baseline", "frequent"),
    ("frequent_transitions", "frequent+transitions"),
    ("recgpt_v1", "recgpt-v1"),
    ("recgpt_v1_topped_up", "recgpt-v1+f+t"),
)


def table(report: Report) -> str:
    return "\n".join(
        [
            *_header(report),
            "",
            _row("", ("llm", "fallback", "all")),
            *_tag_rows(report.k_tags, report.tag_hit_rate),
            _figure("tags searched per user", report.tags_searched_mean, ".1f"),
            *_by_tag_answer(report),
            *(
                _figure(f"{route} {metric}", values[metric])
                for route, values in report.retrieval.items()
                for metric in _METRICS
            ),
            *(
                _figure(f"exclusive recall tag {k}", value)
                for k, value in report.exclusive_recall_tag_over_collaborative.items()
            ),
            *_explanations(report),
            "",
            _row("judge pass rate", ("llm", "fallback", "all")),
            *(
                _row(
                    f"{subject} (judged)",
                    tuple(
                        f"{_number(rates.pass_rate)} ({rates.judged})"
                        for rates in (by[LLM], by[FALLBACK], by["all"])
                    ),
                )
                for subject, by in report.judge.items()
            ),
            f"(judge calls failed: {report.judge_failures})",
            "",
            f"{'cost per user':<14}{'prompt tok':>12}{'compl. tok':>12}{'engine s':>10}",
            *(
                f"{name:<14}{cost.prompt_tokens:>12.1f}{cost.completion_tokens:>12.1f}"
                f"{cost.engine_seconds:>10.2f}"
                for name, cost in report.cost_per_user.items()
            ),
        ]
    )


def _header(report: Report) -> list[str]:
    users, served = report.users, report.served
    beta = served["recgpt_v1_beta"]
    share = report.fallback_share
    lines = [
        f"dataset {users.dataset}  model {report.model or '?'}  seed {users.seed}",
        f"users: {users.evaluated} evaluated of {users.selected} selected ({users.eligible} eligible, "
        f"{users.requested} requested); {users.failed} failed, {users.targets_not_served} targets not in "
        f"the served catalogue ({users.dataset_items_not_served} of {users.dataset_items} dataset items "
        "not served)",
        f"  profile answered by the LLM for {users.count[LLM]} ({users.share[LLM]:.0%}), by a fallback for "
        f"{users.count[FALLBACK]} ({users.share[FALLBACK]:.0%}; interests {share['interests']:.0%}, "
        f"tags {share['tags']:.0%})",
        f"  the platform saw: {users.platform_saw}",
        f"  the services saw: {users.services_saw}",
        f"ranked with RankingSettings from this environment, as the gateway reads them: "
        f"{served['tag_route_max_tags']} tags x "
        f"{served['tag_route_per_tag_k']} items, recgpt-v1 = {beta:g}·collaborative + {1 - beta:g}·tag, "
        f"baseline = {served['collaborative_weight']:g}·collaborative + "
        f"{served['content_weight']:g}·content, {served['recent_items']} recent items as seeds",
        f"frequent+transitions: what follows the user's last category, counted in "
        f"{report.tag_transitions.training_users} training users' sequences "
        f"({report.tag_transitions.transitions} transitions; no evaluated user); recgpt-v1+f+t: the LLM's "
        "tag categories topped up with frequent+transitions",
        "adapters (users): " + _by_agent(report.adapters),
        "prompt versions (users): " + _by_agent(report.prompt_versions),
        f"wall {report.wall_s:.1f} s at concurrency {report.concurrency}",
    ]
    if users.targets_seen_by_platform:
        lines.append(
            "WARNING: the platform was built from these very interactions, targets included: the "
            "collaborative figures are inflated (bring it up with RECGPT_STACK_HOLD_OUT_LAST=1, "
            "as `make eval` does)"
        )
    return lines


def _by_tag_answer(report: Report) -> list[str]:
    """The tag figures split by who answered the tags alone (the interests' answer set aside)."""
    if not report.tag_hit_rate_by_tag_answer:
        return []
    by_tags = report.tag_hit_rate_by_tag_answer
    answered = round(report.users.evaluated * (1 - report.fallback_share["tags"]))
    return [
        f"by the tag answer alone ({answered} by the LLM, "
        f"{report.users.evaluated - answered} by its fallback):",
        *_tag_rows(report.k_tags, by_tags),
    ]


def _tag_rows(k: int, rates: Mapping[str, BySource]) -> list[str]:
    return [_figure(f"tag HR@{k} {label}", rates[arm]) for arm, label in _TAG_ARM_LABELS]


def _explanations(report: Report) -> list[str]:
    diversity = report.explanation_diversity

    def described(name: str, figure: Diversity) -> str:
        return (
            f"{name} {_number(figure.value)} ({figure.explanations} texts, {figure.items} items, "
            f"{figure.pairs} pairs)"
        )

    return [
        "",
        f"explanation diversity (1 - mean ROUGE-L within an item; {diversity.rouge}):",
        f"  {described('LLM', diversity.llm)}; {described('template', diversity.fallback)}; "
        f"{described('all', diversity.all)}",
        f"  {diversity.share[LLM]:.0%} of the explanations by the LLM, {diversity.share[FALLBACK]:.0%} from "
        f"the template; {diversity.explain_failures} failed calls",
    ]


def _figure(label: str, value: BySource, spec: str = ".4f") -> str:
    return _row(label, tuple(_number(v, spec) for v in (value.llm, value.fallback, value.all)))


def _row(label: str, cells: tuple[str, ...]) -> str:
    return f"{label:<{_LABEL}}" + "".join(f"{cell:>14}" for cell in cells)


def _number(value: float | None, spec: str = ".4f") -> str:
    """A figure, or "-" for a group with no member."""
    return "-" if value is None else format(value, spec)


def _by_agent(used: Mapping[str, Mapping[str, int]]) -> str:
    return (
        "; ".join(
            f"{agent} " + ", ".join(f"{name} ({users})" for name, users in counts.items())
            for agent, counts in used.items()
        )
        or "none reported"
    )
