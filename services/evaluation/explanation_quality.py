"""RecGPT-V2's explanation figures for a benchmark: diversity, agent-as-a-judge verdicts, the share passing
all seven criteria, and what explaining and judging cost per user.

The caller (`make bench-v2`, or any run over users) collects each served explanation with its judgement and
the two services' usage; `explanation_figures` turns them into one report. Diversity is evaluation.metrics'
(1 - mean ROUGE-L between explanations of the same item), computed per source so that templates and the V1
path's texts never lift or sink the meta-prompted figure.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel

from evaluation.metrics import diversity
from explain import prompts as explain_prompts
from recgpt.common.v1 import common_pb2
from recgpt.explain.v1 import explain_pb2
from recgpt.judge.v1 import judge_pb2
from recgpt_domain.judge_panel import EXPLANATION_DIMENSIONS

# Who wrote an explanation: meta-prompting, the V1 path's LLM (V1, or V2's next-best path), the template.
Source = Literal["meta_prompted", "v1_llm", "template"]
SOURCES: tuple[Source, ...] = ("meta_prompted", "v1_llm", "template")
_VERDICTS = {
    judge_pb2.VERDICT_SUPERIOR: "superior",
    judge_pb2.VERDICT_AVERAGE: "average",
    judge_pb2.VERDICT_BAD: "bad",
    judge_pb2.VERDICT_PASS: "v1_pass",
    judge_pb2.VERDICT_FAIL: "v1_fail",
}


@dataclass(frozen=True)
class ExplanationRecord:
    item_id: str
    text: str
    source: Source
    # superior / average / bad (the panel), v1_pass / v1_fail (its next-best path), None: not judged.
    verdict: str | None = None
    # The panel judged every one of the seven dimensions and each passed.
    all_seven: bool = False
    # Why the panel handed the explanation to the V1 judge (timeout, outside_schema, contradiction, ...).
    panel_fallback: str = ""


@dataclass(frozen=True)
class LlmCost:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    engine_seconds: float = 0.0


class Diversity(BaseModel):
    # 1 - mean ROUGE-L; null when no item had two explanations of this source.
    value: float | None
    items: int
    pairs: int


class CostPerUser(BaseModel):
    prompt_tokens: float
    completion_tokens: float
    engine_seconds: float


class ExplanationFigures(BaseModel):
    users: int
    explanations: int
    # Share of explanations by source.
    sources: dict[str, float]
    # Whose texts are the method's own (meta_prompted for V2, v1_llm for V1); the fallback share is the rest.
    own_source: str
    fallback_share: float
    # By source, and "llm" (meta-prompted and the V1 path's LLM texts together); templates stay apart.
    diversity: dict[str, Diversity]
    judged: int
    # Shares of the judged explanations by verdict.
    verdicts: dict[str, float]
    # Share of the judged explanations that the panel passed on all seven criteria.
    all_seven_passed: float | None
    # Judged explanations the V1 judge answered instead of the panel, by the panel's reason.
    panel_fallbacks: dict[str, int] = {}
    cost_per_user: dict[str, CostPerUser]


def own_source(method: explain_pb2.Method) -> Source:
    """What a method writes when nothing falls back: meta-prompting for V2, V1's LLM path for V1."""
    return "meta_prompted" if method == explain_pb2.METHOD_RECGPT_V2 else "v1_llm"


def source_of(explanation: explain_pb2.Explanation) -> Source:
    if explanation.fallback or explanation.provenance.fallback:
        return "template"
    if explanation.provenance.prompt_version == explain_prompts.PROMPT_VERSION_V2:
        return "meta_prompted"
    return "v1_llm"


def record(explanation: explain_pb2.Explanation, judgement: judge_pb2.Judgement | None) -> ExplanationRecord:
    """One served explanation with its judgement (None: not judged, or the judge was unavailable)."""
    verdict = None if judgement is None else _VERDICTS.get(judgement.verdict)
    passed = {d.dimension for d in judgement.dimensions if d.passed} if judgement is not None else set()
    return ExplanationRecord(
        explanation.item_id,
        explanation.text,
        source_of(explanation),
        verdict,
        all_seven=verdict in ("superior", "average") and passed >= set(EXPLANATION_DIMENSIONS),
        panel_fallback=judgement.fallback_reason if judgement is not None else "",
    )


def judge_request(
    explanations: Sequence[explain_pb2.Explanation],
    items: Mapping[str, common_pb2.Item],
    situation: Mapping[str, str],
    user_id: str = "",
) -> judge_pb2.JudgeRequest:
    """Agent-as-a-judge's request for a user's explanations, in the situation they were written for."""
    return judge_pb2.JudgeRequest(
        user_id=user_id,
        method=judge_pb2.METHOD_RECGPT_V2,
        source="offline",
        situation=dict(situation),
        explanations=judge_pb2.Explanations(
            explanations=[
                judge_pb2.ExplanationSubject(interest=e.interest, item=items[e.item_id], text=e.text)
                for e in explanations
            ]
        ),
    )


def explanation_figures(
    records: Sequence[ExplanationRecord],
    users: int,
    explaining: LlmCost,
    judging: LlmCost,
    own_source: Source = "meta_prompted",
) -> ExplanationFigures:
    """The report over `users` users' explanations; costs are the services' summed usage. `own_source` is
    what the method writes when nothing falls back (V1: v1_llm)."""
    total = len(records)
    counts = Counter(r.source for r in records)
    by_source: dict[str, dict[str, list[str]]] = {name: defaultdict(list) for name in (*SOURCES, "llm")}
    for entry in records:
        by_source[entry.source][entry.item_id].append(entry.text)
        if entry.source != "template":
            by_source["llm"][entry.item_id].append(entry.text)
    judged = [r for r in records if r.verdict is not None]
    verdicts = Counter(r.verdict for r in judged if r.verdict is not None)
    return ExplanationFigures(
        users=users,
        explanations=total,
        sources={name: _share(counts[name], total) for name in SOURCES},
        own_source=own_source,
        fallback_share=_share(total - counts[own_source], total),
        diversity={name: _diversity(texts) for name, texts in by_source.items()},
        judged=len(judged),
        verdicts={name: _share(count, len(judged)) for name, count in sorted(verdicts.items())},
        all_seven_passed=_share(sum(r.all_seven for r in judged), len(judged)) if judged else None,
        panel_fallbacks=dict(sorted(Counter(r.panel_fallback for r in judged if r.panel_fallback).items())),
        cost_per_user={"explain": _per_user(explaining, users), "judge": _per_user(judging, users)},
    )


def _share(count: int, total: int) -> float:
    return round(count / total, 4) if total else 0.0


def _diversity(texts_by_item: Mapping[str, list[str]]) -> Diversity:
    value, items, pairs = diversity(texts_by_item)
    return Diversity(value=round(value, 4) if pairs else None, items=items, pairs=pairs)


def _per_user(cost: LlmCost, users: int) -> CostPerUser:
    users = max(users, 1)
    return CostPerUser(
        prompt_tokens=round(cost.prompt_tokens / users, 1),
        completion_tokens=round(cost.completion_tokens / users, 1),
        engine_seconds=round(cost.engine_seconds / users, 3),
    )
