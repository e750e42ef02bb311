"""`make bench-v2`'s explanation figures: each variant's users get explanations of items from their own tags,
written as the variant is served (V1's prompt for the V1 variants; meta-prompting for V2's, with the tag's
persona in the situation) and judged by agent-as-a-judge, so that diversity, verdicts, the share passing all
seven criteria and the cost of explaining and judging compare across variants on the same users.

A user's items are the most-bought item of each of its first tags' categories (purchases in the held-out
histories: no target counts): users who share a category are shown the same item, which is what diversity
(1 - ROUGE-L between explanations of the same item) needs, and each item fits the tag it is explained for.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from evaluation.bench_v2_figures import VariantRun
from evaluation.explanation_calls import Ask, Judged, explain_all, judge_all
from evaluation.explanation_quality import LlmCost, explanation_figures, own_source, record
from recgpt.common.v1 import common_pb2
from recgpt.explain.v1 import explain_pb2
from recgpt_domain.situation import Situation
from recgpt_serving import persona_chain
from recgpt_serving.service_stubs import ServiceStubsWithJudge

METHOD_NAMES = {explain_pb2.METHOD_RECGPT_V1: "recgpt-v1", explain_pb2.METHOD_RECGPT_V2: "recgpt-v2"}


def most_bought_by_category(bought: Iterable[str], served: Mapping[str, common_pb2.Item]) -> dict[str, str]:
    """Category (the path's leaf) -> its most-bought served item; ties go to the smaller id, so that every
    variant and every run shows the same item."""
    counts = Counter(item_id for item_id in bought if item_id in served)
    best: dict[str, tuple[int, str]] = {}
    for item_id, count in counts.items():
        path = served[item_id].category_path
        if not path:
            continue
        held = best.get(path[-1])
        if held is None or (-count, item_id) < (-held[0], held[1]):
            best[path[-1]] = (count, item_id)
    return {category: item_id for category, (_, item_id) in best.items()}


def asks_for(
    user_id: str,
    run: VariantRun,
    items_by_category: Mapping[str, str],
    last_seen_s: float,
    per_user: int,
    v2: bool,
) -> list[Ask]:
    """The user's first `per_user` tag categories that have an item, each with the interest of its tag (the
    category's name when the tag had none), in the situation of the user's last interaction; a V2 answer's
    persona rides in the situation as the gateway sends it (none when V2 fell back to V1's tags)."""
    asks: list[Ask] = []
    for category in run.categories:
        if len(asks) == per_user:
            break
        item_id = items_by_category.get(category)
        if item_id is None:
            continue
        interest = run.interests.get(category) or category
        persona = interest if v2 and run.path != persona_chain.V1_TAGS else ""
        situation = Situation.at_unix(last_seen_s, persona) if last_seen_s else Situation(persona=persona)
        asks.append(Ask(user_id, interest, item_id, situation.as_map()))
    return asks


async def explanation_report(
    stubs: ServiceStubsWithJudge,
    method: explain_pb2.Method,
    asks: Sequence[Ask],
    items: Mapping[str, common_pb2.Item],
    deadline_s: float,
    concurrency: int,
    judge: bool = True,
) -> dict[str, Any]:
    """Explain every ask by `method`, judge what came back (unless `judge` is off), and the figures over the
    users asked for; failed calls are counted apart, never mixed into the shares."""
    explained = await explain_all(stubs, method, asks, deadline_s, concurrency)
    judged = (
        await judge_all(stubs, explained.made, items, deadline_s, concurrency)
        if judge
        else Judged([record(e, None) for _, e in explained.made], LlmCost(), 0)
    )
    users = len({ask.user_id for ask in asks})
    figures = explanation_figures(judged.records, users, explained.cost, judged.cost, own_source(method))
    return {
        "method": METHOD_NAMES.get(method, str(method)),
        "asked": len(asks),
        "failed_calls": {"explain": explained.failed, "judge": judged.failed},
        **figures.model_dump(),
    }
