"""Tag HR@K of the base model and an adapter on the evaluation's own users (never trained on).

The users are those `make eval` draws (`evaluation.split.choose`, seed 0), each with their last interaction
held out as the target; the prompt is the tag agent's, over the compressed history, with the user's
frequent categories as interests (the interest agent's fallback). Tags are mapped to categories the way the
tag service maps them; an answer with no confidently mapped tag is a fallback (counted, and scored apart).
Beside the LLM: the user's most frequent categories, frequent + transitions (the categories that most often
follow the user's last category in training users' logs), and the LLM's categories topped up with it. With a
`pool`, each model also ranks that many candidate categories by its likelihood (`agent_training.ranking`):
the statistics' own top `pool`, so the question is whether the model orders them better than the statistics.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any

from agent_training import generation, ranking
from agent_training.data import DataConfig, reserved_for_evaluation
from agent_training.job import MAX_NEW_TOKENS, Job
from agent_training.model import load_model, load_tokenizer
from agent_training.rewards import parse_tags
from evaluation import metrics
from evaluation.split import Split, choose, eligible
from recgpt_domain.behaviour_context import compress, frequent_category_interests
from recgpt_domain.catalogue import Item, iter_histories
from recgpt_domain.category_tags import category_tags
from recgpt_serving.llm.client import Message
from tags import prompts as tag_prompts


def transitions(
    splits: Iterable[Split], items: Mapping[str, Item], reserved: set[str]
) -> dict[str, Counter[str]]:
    """Next-category counts after each category, over training users' logs without their last item."""
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for categories in _training_categories(splits, items, reserved):
        for before, after in pairwise(categories):
            counts[before][after] += 1
    return counts


def popular(splits: Iterable[Split], items: Mapping[str, Item], reserved: set[str]) -> list[str]:
    """Categories by how often training users took them, most first (what tops up a short pool)."""
    counts: Counter[str] = Counter()
    for categories in _training_categories(splits, items, reserved):
        counts.update(categories)
    return [category for category, _ in counts.most_common()]


def _training_categories(
    splits: Iterable[Split], items: Mapping[str, Item], reserved: set[str]
) -> Iterable[list[str]]:
    for split in splits:
        if split.user_id not in reserved:
            yield [items[i].category for i in split.history_ids if i in items and items[i].category]


def fill(first: Sequence[str], more: Iterable[str], k: int) -> list[str]:
    out = list(dict.fromkeys(c for c in first if c))[:k]
    for category in more:
        if len(out) >= k:
            break
        if category and category not in out:
            out.append(category)
    return out


@dataclass
class UserTags:
    target: str
    frequent: list[str]
    frequent_transitions: list[str]
    llm: dict[str, list[str]]
    # The statistics' top candidates (frequent, transitions, popular), in their order; empty without a pool.
    pool: list[str] = field(default_factory=list)
    # Per model, per likelihood score: the pool re-ranked.
    ranked: dict[str, dict[str, list[str]]] = field(default_factory=dict)


def evaluate(
    job: Job,
    adapters: Mapping[str, Path | None],
    users: int,
    k: int = 30,
    pool: int = 0,
    generate: bool = True,
) -> dict[str, Any]:
    """HR@k per model (name -> adapter, None = base), split into LLM-answered and fallback users; with a
    `pool`, also HR@k of each model's likelihood ranking of the statistics' top `pool` categories
    (`generate=False`: that ranking alone)."""
    items = job.items
    splits = eligible(iter_histories(job.catalogue))
    chosen = choose(splits, users, DataConfig().evaluation_seed)
    reserved = reserved_for_evaluation(splits, job.data_config)
    follows = transitions(splits, items, reserved)
    common = popular(splits, items, reserved) if pool else []
    prompts = []
    rows: list[UserTags] = []
    for split in chosen:
        target = items[split.target.item_id].category if split.target.item_id in items else ""
        behaviour = compress(split.history, items, job.data_config.budget_tokens)
        interests = [
            i.interest for i in frequent_category_interests(behaviour, job.data_config.max_interests)
        ]
        recent = [items[i].category for i in split.recent_ids() if i in items]
        frequent = metrics.most_frequent(recent, k)
        last = recent[0] if recent else ""
        following = [c for c, _ in follows[last].most_common()]
        rows.append(
            UserTags(
                target,
                frequent,
                fill(frequent, following, k),
                {},
                fill(fill(frequent, following, pool), common, pool) if pool else [],
            )
        )
        prompts.append(
            tag_prompts.messages(behaviour.text, interests or ["products"], job.data_config.max_tags)
        )
    tokenizer = load_tokenizer(job.base) if adapters else None
    # The tag naming each pooled category, and the prompt without behaviour: the same for every model.
    names = category_tags(items.values()) if pool else {}
    named = {c: names[c] for row in rows for c in row.pool if c in names}
    blank = tag_prompts.messages("(nothing yet)", ["products"], job.data_config.max_tags)
    for name, adapter in adapters.items():
        model = load_model(job.base, adapter)
        if generate:
            answers = generation.generate(
                model, tokenizer, prompts, max_new_tokens=MAX_NEW_TOKENS["tag_predictor"]
            )
            for row, answer in zip(rows, answers, strict=True):
                tags = parse_tags(answer[0]) or []
                matches = job.mapper.map(tags) if tags else []
                row.llm[name] = [m.category for m in matches if m.score >= job.constraints.min_category_score]
        if pool:
            _rank_pools(model, tokenizer, rows, prompts, name, named, blank)
    return report(rows, list(adapters), k)


def _rank_pools(
    model: Any,
    tokenizer: Any,
    rows: Sequence[UserTags],
    prompts: Sequence[Sequence[Message]],
    name: str,
    tags: Mapping[str, str],
    blank: Sequence[Message],
) -> None:
    """Each row's pool ranked by `model`'s likelihood of its categories' `tags` (categories no tag can name
    keep their place at the end); `blank` is the prompt without the user's behaviour (for PMI)."""
    unique = sorted(set(tags.values()))
    without = dict(zip(unique, ranking.candidate_logprobs(model, tokenizer, blank, unique), strict=True))
    for row, prompt in zip(rows, prompts, strict=True):
        named = [c for c in row.pool if c in tags]
        scores = ranking.candidate_logprobs(model, tokenizer, prompt, [tags[c] for c in named])
        unnamed = [c for c in row.pool if c not in tags]
        row.ranked[name] = {
            score: [*ranked, *unnamed]
            for score, ranked in ranking.rankings(named, tags, scores, without).items()
        }


def report(rows: Sequence[UserTags], names: Sequence[str], k: int) -> dict[str, Any]:
    out: dict[str, Any] = {
        "users": len(rows),
        "k": k,
        "frequent": metrics.mean(metrics.hit_rate(r.frequent, r.target) for r in rows),
        "frequent_transitions": metrics.mean(
            metrics.hit_rate(r.frequent_transitions, r.target) for r in rows
        ),
        "models": {},
    }
    for name in names:
        out["models"][name] = {}
        if any(name in r.llm for r in rows):
            out["models"][name] = _generated(rows, name, k)
        pooled = [r for r in rows if name in r.ranked]
        if pooled:
            out["models"][name]["ranked_pool"] = {
                score: metrics.mean(metrics.hit_rate(r.ranked[name][score][:k], r.target) for r in pooled)
                for score in pooled[0].ranked[name]
            }
    pools = [r for r in rows if r.pool]
    if pools:
        out["pool"] = {
            "size": len(pools[0].pool),
            # The ceiling of any ranking of the pool, and the statistics' own top k of it.
            "recall": metrics.mean(1.0 if r.target in r.pool else 0.0 for r in pools),
            "statistics_top_k": metrics.mean(metrics.hit_rate(r.pool[:k], r.target) for r in pools),
        }
    return out


def _generated(rows: Sequence[UserTags], name: str, k: int) -> dict[str, Any]:
    """The figures of `name`'s generated tags."""
    answered = [r for r in rows if r.llm[name]]
    return {
        "llm_answered": len(answered),
        "fallback_share": 1 - len(answered) / len(rows) if rows else 0.0,
        "hr_llm_answered": metrics.mean(metrics.hit_rate(r.llm[name][:k], r.target) for r in answered),
        "frequent_on_llm_answered": metrics.mean(metrics.hit_rate(r.frequent, r.target) for r in answered),
        # Fallback users get the frequent categories, as the tag service's fallback serves them.
        "hr_all": metrics.mean(
            metrics.hit_rate(r.llm[name][:k] if r.llm[name] else r.frequent, r.target) for r in rows
        ),
        "hr_topped_up": metrics.mean(
            metrics.hit_rate(fill(r.llm[name], r.frequent_transitions, k), r.target) for r in rows
        ),
        "distinct_categories": metrics.mean(len(set(r.llm[name])) for r in answered),
    }


def table(result: Mapping[str, Any]) -> str:
    k = result["k"]
    lines = [
        f"tag HR@{k} on {result['users']} evaluation users (last interaction held out, never trained on)",
        f"  frequent categories            {result['frequent']:.3f}",
        f"  frequent + transitions         {result['frequent_transitions']:.3f}",
    ]
    if "pool" in result:
        pool = result["pool"]
        lines.append(
            f"  pool of the statistics' top {pool['size']}: holds the target for {pool['recall']:.3f}, "
            f"its own top {k} {pool['statistics_top_k']:.3f}"
        )
    for name, figures in result["models"].items():
        for score, figure in figures.get("ranked_pool", {}).items():
            lines.append(f"  {name:<30} pool ranked by {score:<20} {figure:.3f}")
        if "hr_llm_answered" not in figures:
            continue
        lines.append(
            f"  {name:<30} LLM-answered {figures['hr_llm_answered']:.3f} on {figures['llm_answered']} users "
            f"(frequent on them {figures['frequent_on_llm_answered']:.3f}), "
            f"fallback {figures['fallback_share']:.0%}, all {figures['hr_all']:.3f}, "
            f"topped up with frequent+transitions {figures['hr_topped_up']:.3f}, "
            f"{figures['distinct_categories']:.1f} categories/answer"
        )
    return "\n".join(lines)
