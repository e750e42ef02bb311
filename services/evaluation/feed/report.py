"""The figures of `make eval-feed`, from the users' outcomes."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from evaluation.feed.runner import MAX_ROUNDS, UserOutcome

NAMED_KINDS = frozenset({"category", "brand", "item", "year", "rating"})


def _share(count: int, total: int) -> float | None:
    return round(count / total, 4) if total else None


def _quantiles(values: Sequence[float]) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p99": None, "mean": None}
    array = np.asarray(values, dtype=np.float64)
    return {
        "p50": round(float(np.percentile(array, 50)), 4),
        "p99": round(float(np.percentile(array, 99)), 4),
        "mean": round(float(array.mean()), 4),
    }


def _split(outcomes: Sequence[UserOutcome], *, rules_only: bool) -> list[float]:
    return [
        seconds
        for o in outcomes
        for seconds, status in zip(o.latencies_s, o.llm_statuses, strict=False)
        if (status == "not_needed") == rules_only
    ]


def aggregate(outcomes: Sequence[UserOutcome], meta: dict[str, Any]) -> dict[str, Any]:
    done = [o for o in outcomes if not o.errors or o.trajectory]
    n = len(done)
    parts = [p for o in done for p in o.parts]
    named = [p for p in parts if p["kind"] in NAMED_KINDS or (p["kind"] == "soft" and p["source"] == "llm")]
    statuses = Counter(s for o in done for s in o.llm_statuses)
    answered = statuses.get("ok", 0) + statuses.get("invalid", 0)
    kept = [p for p in parts if p["resolution"] not in ("dropped", "ignored")]
    latencies = [s for o in done for s in o.latencies_s]
    timings = [t for o in done for t in o.timings]
    return {
        **meta,
        "users": {"evaluated": n, "with_errors": sum(1 for o in outcomes if o.errors)},
        "single_round": {
            "recbot_recall_at_10": _share(sum(o.hit_at_10 for o in done), n),
            "recbot_recall_at_50": _share(sum(o.hit_at_50 for o in done), n),
            "embedding_search_recall_at_10": _share(sum(o.baseline_hit_at_10 for o in done), n),
            "embedding_search_recall_at_50": _share(sum(o.baseline_hit_at_50 for o in done), n),
        },
        "multi_round": {
            "max_rounds": MAX_ROUNDS,
            "pass_rate": _share(sum(o.rounds <= MAX_ROUNDS for o in done), n),
            "average_rounds_miss_counts_6": round(sum(o.rounds for o in done) / n, 3) if n else None,
        },
        "hard_constraints": {
            "pages_checked": sum(o.pages for o in done),
            "items_checked": sum(o.items_checked for o in done),
            "violations": sum(len(o.violations) for o in done),
            "violations_in_feed_pages": sum(1 for o in done for v in o.violations if v.startswith("round")),
            "violations_in_recommend_pages": sum(
                1 for o in done for v in o.violations if v.startswith("recommend")
            ),
            "recommend_pages_preferences_not_applied": sum(o.recommend_pages_unapplied for o in done),
            "examples": [v for o in done for v in o.violations][:10],
        },
        "parser": {
            "commands": len(latencies),
            "llm_status": dict(statuses),
            "llm_schema_valid_rate": _share(statuses.get("ok", 0), answered),
            "catalogue_resolved_rate": _share(
                sum(1 for p in named if p["resolution"] in ("exact", "closest")), len(named)
            ),
            "parts_kept_by_source": dict(Counter(p["source"] for p in kept)),
            "parts_kept_by_kind": dict(Counter(f"{p['source']}:{p['kind']}" for p in kept)),
            "commands_rules_only": statuses.get("not_needed", 0),
        },
        "latency_s": {
            "command_wall": _quantiles(latencies),
            # Commands the rules resolved whole never wait on the LLM; the others do.
            "command_wall_rules_only": _quantiles(_split(done, rules_only=True)),
            "command_wall_llm_asked": _quantiles(_split(done, rules_only=False)),
            **(
                {f"server_{name}": _quantiles([t[name] for t in timings]) for name in timings[0]}
                if timings
                else {}
            ),
        },
        "errors": [e for o in outcomes for e in o.errors][:20],
    }


def table(report: dict[str, Any]) -> str:
    single, multi = report["single_round"], report["multi_round"]
    hard, parser = report["hard_constraints"], report["parser"]
    rows = [
        ("users evaluated", report["users"]["evaluated"]),
        (
            "Recall@10 RecBot / embedding search",
            f"{single['recbot_recall_at_10']} / {single['embedding_search_recall_at_10']}",
        ),
        (
            "Recall@50 RecBot / embedding search",
            f"{single['recbot_recall_at_50']} / {single['embedding_search_recall_at_50']}",
        ),
        ("pass rate (top 10 within 5 rounds)", multi["pass_rate"]),
        ("average rounds (miss = 6)", multi["average_rounds_miss_counts_6"]),
        (
            "hard-constraint violations",
            f"{hard['violations']} in {hard['items_checked']} items, {hard['pages_checked']} pages",
        ),
        ("parser LLM status", parser["llm_status"]),
        ("LLM schema-valid rate", parser["llm_schema_valid_rate"]),
        ("catalogue-resolved rate", parser["catalogue_resolved_rate"]),
        ("parts kept by source", parser["parts_kept_by_source"]),
    ]
    for name, figures in report["latency_s"].items():
        rows.append((f"latency {name} p50/p99 s", f"{figures['p50']} / {figures['p99']}"))
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name:<{width}}  {value}" for name, value in rows)
